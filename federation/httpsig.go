package federation

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP signatures as the fediverse uses them. Outgoing requests are signed with
// draft-cavage-http-signatures-12 (rsa-sha256), which every server reads.
// Incoming requests may carry draft-cavage (Mastodon before 4.5, GoToSocial)
// or RFC 9421 HTTP Message Signatures (Mastodon 4.5, Fedify, which fall back to
// draft-cavage only after a failure). Both are checked here with the standard
// library alone: no maintained Go library implements RFC 9421, and the usual
// draft-cavage one (go-fed/httpsig) is unmaintained and reads Host from the
// header map, where Go's server never puts it.

// Signature windows, as Mastodon applies them.
const (
	MaxSignatureAge    = 12 * time.Hour
	MaxSignatureFuture = time.Hour
)

// ErrSignature is wrapped by every signature failure: the caller answers 401.
var ErrSignature = errors.New("federation: bad signature")

func sigErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSignature, fmt.Sprintf(format, args...))
}

// SignRequest signs r with draft-cavage-12 (rsa-sha256) for keyID. It sets
// Date, Host and, when body is not nil, Digest, and signs (request-target),
// host, date and digest (GET: without digest), as Mastodon and GoToSocial
// require.
func SignRequest(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time) error {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	r.Header.Set("Host", host)
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	headers := []string{"(request-target)", "host", "date"}
	if body != nil {
		sum := sha256.Sum256(body)
		r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
		headers = append(headers, "digest")
	}
	base := cavageBase(r, host, headers)
	digest := sha256.Sum256([]byte(base))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return fmt.Errorf("federation: sign request: %w", err)
	}
	r.Header.Set("Signature", fmt.Sprintf(`keyId="%s",algorithm="rsa-sha256",headers="%s",signature="%s"`,
		keyID, strings.Join(headers, " "), base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// RequestSignature is a parsed signature of an incoming request, checked in
// everything but the key: the caller fetches the key named by KeyID and calls
// Verify.
type RequestSignature struct {
	KeyID  string
	Scheme string // "draft-cavage" or "rfc9421"
	base   []byte
	sig    []byte
}

// Verify checks the signature with the key's owner's public key. Both schemes
// are RSASSA-PKCS1-v1_5 with SHA-256 here (hs2019 with an RSA key means the
// same in practice).
func (s *RequestSignature) Verify(pub crypto.PublicKey) error {
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return sigErr("key %s is not an RSA key", s.KeyID)
	}
	sum := sha256.Sum256(s.base)
	if err := rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, sum[:], s.sig); err != nil {
		return sigErr("signature does not verify with key %s", s.KeyID)
	}
	return nil
}

// ParseRequestSignature reads the signature of an incoming request and checks
// what can be checked without the key: the signed components, the time window
// and the body's digest. An RFC 9421 signature is preferred when both are
// present. publicURL is the node's base URL, which the request's target URI is
// rebuilt from (a proxy in front may have terminated TLS).
func ParseRequestSignature(r *http.Request, body []byte, publicURL *url.URL, now time.Time) (*RequestSignature, error) {
	if r.Header.Get("Signature-Input") != "" {
		return parseRFC9421(r, body, publicURL, now)
	}
	if r.Header.Get("Signature") != "" {
		return parseCavage(r, body, now)
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Signature ") {
		return parseCavage(r, body, now)
	}
	return nil, sigErr("request is not signed")
}

func parseCavage(r *http.Request, body []byte, now time.Time) (*RequestSignature, error) {
	raw := r.Header.Get("Signature")
	if raw == "" {
		raw = strings.TrimPrefix(r.Header.Get("Authorization"), "Signature ")
	}
	params := parseCavageParams(raw)
	keyID, sigB64 := params["keyid"], params["signature"]
	if keyID == "" || sigB64 == "" {
		return nil, sigErr("signature header lacks keyId or signature")
	}
	switch alg := strings.ToLower(params["algorithm"]); alg {
	case "", "hs2019", "rsa-sha256":
	default:
		return nil, sigErr("algorithm %q not supported", alg)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return nil, sigErr("signature is not base64")
	}
	headers := strings.Fields(strings.ToLower(params["headers"]))
	if len(headers) == 0 {
		headers = []string{"date"} // the draft's default
	}
	signed := map[string]bool{}
	for _, h := range headers {
		signed[h] = true
	}
	if !signed["(request-target)"] {
		return nil, sigErr("(request-target) is not signed")
	}
	if !signed["host"] {
		return nil, sigErr("host is not signed")
	}
	switch {
	case signed["(created)"]:
		created, err := strconv.ParseInt(params["created"], 10, 64)
		if err != nil {
			return nil, sigErr("(created) is signed but not given")
		}
		if err := checkWindow(time.Unix(created, 0), now); err != nil {
			return nil, err
		}
	case signed["date"]:
		d, err := http.ParseTime(r.Header.Get("Date"))
		if err != nil {
			return nil, sigErr("date header missing or malformed")
		}
		if err := checkWindow(d, now); err != nil {
			return nil, err
		}
	default:
		return nil, sigErr("neither date nor (created) is signed")
	}
	if exp, ok := params["expires"]; ok {
		e, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || time.Unix(e, 0).Before(now) {
			return nil, sigErr("signature has expired")
		}
	}
	if body != nil {
		if !signed["digest"] {
			return nil, sigErr("digest is not signed")
		}
		if err := checkDigest(r.Header.Get("Digest"), body); err != nil {
			return nil, err
		}
	}
	base, err := cavageBaseChecked(r, headers, params)
	if err != nil {
		return nil, err
	}
	return &RequestSignature{KeyID: keyID, Scheme: "draft-cavage", base: []byte(base), sig: sig}, nil
}

// parseCavageParams splits `k1="v1",k2="v2"` (keys lower-cased).
func parseCavageParams(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		out[k] = v
		_, rest, _ = strings.Cut(rest, ",")
		s = rest
	}
	return out
}

func cavageBase(r *http.Request, host string, headers []string) string {
	lines := make([]string, len(headers))
	for i, h := range headers {
		switch h {
		case "(request-target)":
			lines[i] = h + ": " + strings.ToLower(r.Method) + " " + r.URL.RequestURI()
		case "host":
			lines[i] = "host: " + host
		default:
			lines[i] = h + ": " + r.Header.Get(h)
		}
	}
	return strings.Join(lines, "\n")
}

func cavageBaseChecked(r *http.Request, headers []string, params map[string]string) (string, error) {
	lines := make([]string, len(headers))
	for i, h := range headers {
		switch h {
		case "(request-target)":
			lines[i] = h + ": " + strings.ToLower(r.Method) + " " + r.URL.RequestURI()
		case "host":
			// Go's server moves Host out of the header map into r.Host.
			lines[i] = "host: " + r.Host
		case "(created)", "(expires)":
			lines[i] = h + ": " + params[strings.Trim(h, "()")]
		default:
			vs := r.Header.Values(h)
			if len(vs) == 0 {
				return "", sigErr("signed header %q is missing", h)
			}
			lines[i] = h + ": " + strings.Join(vs, ", ")
		}
	}
	return strings.Join(lines, "\n"), nil
}

func checkWindow(t, now time.Time) error {
	if t.Before(now.Add(-MaxSignatureAge)) {
		return sigErr("signature is too old (%s)", t.UTC().Format(time.RFC3339))
	}
	if t.After(now.Add(MaxSignatureFuture)) {
		return sigErr("signature is dated in the future (%s)", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkDigest checks a draft Digest header (SHA-256= or SHA-512=) against body.
func checkDigest(header string, body []byte) error {
	if header == "" {
		return sigErr("digest header missing")
	}
	for _, part := range strings.Split(header, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		var sum []byte
		switch strings.ToUpper(alg) {
		case "SHA-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "SHA-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		if base64.StdEncoding.EncodeToString(sum) != val {
			return sigErr("digest does not match the body")
		}
		return nil
	}
	return sigErr("digest header has no SHA-256 or SHA-512 value")
}
