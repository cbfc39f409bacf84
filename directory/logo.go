package directory

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif"  // decoders for CheckLogo
	_ "image/jpeg" // decoders for CheckLogo
	_ "image/png"  // decoders for CheckLogo

	"github.com/coopnet/coopnet/internal/validate"
	_ "golang.org/x/image/webp" // decoder for CheckLogo
)

var logoTypes = map[string]string{"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}

// CheckLogo checks that data is a PNG, JPEG, GIF or WebP image of a sensible
// size, by decoding its header rather than trusting the name or the browser,
// and returns its content type. SVG is refused: it can carry scripts.
func CheckLogo(data []byte) (string, error) {
	var e validate.Errors
	if len(data) == 0 {
		e.Add("logo", "choose an image file")
		return "", e.Err()
	}
	if len(data) > MaxLogoBytes {
		e.Add("logo", fmt.Sprintf("must be at most %d KiB", MaxLogoBytes>>10))
		return "", e.Err()
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	ct, ok := logoTypes[format]
	if err != nil || !ok {
		e.Add("logo", "must be a PNG, JPEG, GIF or WebP image")
		return "", e.Err()
	}
	if cfg.Width < 16 || cfg.Height < 16 || cfg.Width > 4096 || cfg.Height > 4096 {
		e.Add("logo", "must be between 16 and 4096 pixels wide and high")
		return "", e.Err()
	}
	return ct, nil
}
