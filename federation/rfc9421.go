package federation

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// parseRFC9421 reads an RFC 9421 HTTP Message Signature. Only what the
// fediverse sends is supported: RSA PKCS#1 v1.5 with SHA-256, derived
// components without parameters, and header fields.
func parseRFC9421(r *http.Request, body []byte, publicURL *url.URL, now time.Time) (*RequestSignature, error) {
	inputs, err := parseSigDict(r.Header.Get("Signature-Input"))
	if err != nil {
		return nil, err
	}
	sigs := parseSigValues(r.Header.Get("Signature"))
	// A sender may offer several signatures: the first one this node can
	// check is used, so that an Ed25519 one listed first does not hide an
	// RSA one after it.
	var firstErr error
	for _, in := range inputs {
		sig, ok := sigs[in.label]
		if !ok {
			continue
		}
		rs, err := checkRFC9421(r, body, publicURL, now, in, sig)
		if err == nil {
			return rs, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, sigErr("Signature-Input names no signature found in Signature")
}

type sigInput struct {
	label      string
	components []string
	params     map[string]string
	raw        string // the serialized inner list and its parameters, as sent
}

func checkRFC9421(r *http.Request, body []byte, publicURL *url.URL, now time.Time, in sigInput, sig []byte) (*RequestSignature, error) {
	keyID := in.params["keyid"]
	if keyID == "" {
		return nil, sigErr("rfc9421 signature has no keyid")
	}
	if alg := in.params["alg"]; alg != "" && alg != "rsa-v1_5-sha256" {
		return nil, sigErr("rfc9421 algorithm %q not supported", alg)
	}
	created, err := strconv.ParseInt(in.params["created"], 10, 64)
	if err != nil {
		return nil, sigErr("rfc9421 signature has no created time")
	}
	if err := checkWindow(time.Unix(created, 0), now); err != nil {
		return nil, err
	}
	if exp, ok := in.params["expires"]; ok {
		e, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || time.Unix(e, 0).Before(now) {
			return nil, sigErr("rfc9421 signature has expired")
		}
	}
	covered := map[string]bool{}
	for _, c := range in.components {
		covered[c] = true
	}
	if !covered["@method"] || !(covered["@target-uri"] || (covered["@authority"] && (covered["@path"] || covered["@request-target"]))) {
		return nil, sigErr("rfc9421 signature does not cover the method and target")
	}
	if body != nil {
		if !covered["content-digest"] {
			return nil, sigErr("rfc9421 signature does not cover content-digest")
		}
		if err := checkContentDigest(r.Header.Get("Content-Digest"), body); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	for _, c := range in.components {
		v, err := componentValue(r, publicURL, c)
		if err != nil {
			return nil, err
		}
		b.WriteString(`"` + c + `": ` + v + "\n")
	}
	b.WriteString(`"@signature-params": ` + in.raw)
	return &RequestSignature{KeyID: keyID, Scheme: "rfc9421", base: []byte(b.String()), sig: sig}, nil
}

func componentValue(r *http.Request, publicURL *url.URL, c string) (string, error) {
	authority := strings.ToLower(r.Host)
	switch c {
	case "@method":
		return r.Method, nil
	case "@target-uri":
		return publicURL.Scheme + "://" + authority + r.URL.RequestURI(), nil
	case "@authority":
		return authority, nil
	case "@scheme":
		return publicURL.Scheme, nil
	case "@request-target":
		return r.URL.RequestURI(), nil
	case "@path":
		return r.URL.EscapedPath(), nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	case "host":
		return r.Host, nil
	}
	if strings.HasPrefix(c, "@") {
		return "", sigErr("rfc9421 component %q not supported", c)
	}
	vs := r.Header.Values(c)
	if len(vs) == 0 {
		return "", sigErr("signed header %q is missing", c)
	}
	for i := range vs {
		vs[i] = strings.TrimSpace(vs[i])
	}
	return strings.Join(vs, ", "), nil
}

// checkContentDigest checks an RFC 9530 Content-Digest (sha-256 or sha-512).
func checkContentDigest(header string, body []byte) error {
	if header == "" {
		return sigErr("content-digest header missing")
	}
	for _, part := range strings.Split(header, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil {
			return sigErr("content-digest is not base64")
		}
		var sum []byte
		switch strings.ToLower(alg) {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		if !bytes.Equal(sum, got) {
			return sigErr("content-digest does not match the body")
		}
		return nil
	}
	return sigErr("content-digest has no sha-256 or sha-512 value")
}

// parseSigDict parses the Signature-Input dictionary (RFC 8941): members of
// the form label=("c1" "c2");k=v;k2="v2".
func parseSigDict(s string) ([]sigInput, error) {
	var out []sigInput
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " \t,") {
		label, rest, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(rest, "(") {
			return nil, sigErr("Signature-Input is malformed")
		}
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return nil, sigErr("Signature-Input is malformed")
		}
		in := sigInput{label: strings.TrimSpace(label), params: map[string]string{}}
		for _, item := range strings.Fields(rest[1:end]) {
			if len(item) < 2 || item[0] != '"' || item[len(item)-1] != '"' {
				return nil, sigErr("Signature-Input component %q is not supported", item)
			}
			in.components = append(in.components, item[1:len(item)-1])
		}
		i := end + 1
		for i < len(rest) && rest[i] == ';' {
			j := i + 1
			for j < len(rest) && rest[j] != '=' && rest[j] != ';' && rest[j] != ',' {
				j++
			}
			key := rest[i+1 : j]
			val := ""
			if j < len(rest) && rest[j] == '=' {
				j++
				if j < len(rest) && rest[j] == '"' {
					k := strings.IndexByte(rest[j+1:], '"')
					if k < 0 {
						return nil, sigErr("Signature-Input is malformed")
					}
					val, j = rest[j+1:j+1+k], j+2+k
				} else {
					k := j
					for k < len(rest) && rest[k] != ';' && rest[k] != ',' {
						k++
					}
					val, j = rest[j:k], k
				}
			}
			in.params[key] = val
			i = j
		}
		in.raw = strings.TrimSpace(rest[:i])
		out = append(out, in)
		s = rest[i:]
	}
	if len(out) == 0 {
		return nil, sigErr("Signature-Input is empty")
	}
	return out, nil
}

// parseSigValues parses the Signature dictionary: label=:base64:.
func parseSigValues(s string) map[string][]byte {
	out := map[string][]byte{}
	for _, part := range strings.Split(s, ",") {
		label, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1]); err == nil {
			out[label] = b
		}
	}
	return out
}
