package federation

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testKeyOnce sync.Once
	testKeys    [2]*rsa.PrivateKey
)

// keys returns two RSA keys, made once per test run: generation is slow.
func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	testKeyOnce.Do(func() {
		for i := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = k
		}
	})
	return testKeys[0], testKeys[1]
}

// signRFC9421 signs r as Mastodon 4.5 and Fedify do.
func signRFC9421(t *testing.T, r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, created time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	r.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	r.Header.Set("Date", created.UTC().Format(http.TimeFormat))
	params := fmt.Sprintf(`("@method" "@target-uri" "@authority" "content-digest");created=%d;keyid="%s";alg="rsa-v1_5-sha256"`, created.Unix(), keyID)
	base := strings.Join([]string{
		`"@method": ` + r.Method,
		`"@target-uri": ` + r.URL.String(),
		`"@authority": ` + r.URL.Host,
		`"content-digest": ` + r.Header.Get("Content-Digest"),
		`"@signature-params": ` + params,
	}, "\n")
	h := sha256.Sum256([]byte(base))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature-Input", "sig1="+params)
	r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

// A real server on loopback, so that Host and the request target arrive as
// Go's server really presents them.
func TestSignatures(t *testing.T) {
	key, other := keys(t)
	now := time.Now()
	type result struct {
		sig *RequestSignature
		err error
	}
	results := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method == http.MethodPost {
			body, _ = io.ReadAll(r.Body)
		}
		u, _ := url.Parse("http://" + r.Host)
		s, err := ParseRequestSignature(r, body, u, now)
		results <- result{s, err}
	}))
	defer srv.Close()
	body := []byte(`{"type":"Update","actor":"http://a.example/coops/a"}`)

	tests := []struct {
		name    string
		method  string
		prepare func(r *http.Request) // sign (and maybe spoil) the request
		verify  *rsa.PrivateKey       // whose public key to verify with
		wantErr bool
		scheme  string
	}{
		{"cavage post", "POST", func(r *http.Request) { SignRequest(r, body, "k", key, now) }, key, false, "draft-cavage"},
		{"cavage get", "GET", func(r *http.Request) { SignRequest(r, nil, "k", key, now) }, key, false, "draft-cavage"},
		{"hs2019 label", "POST", func(r *http.Request) {
			SignRequest(r, body, "k", key, now)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "rsa-sha256", "hs2019", 1))
		}, key, false, "draft-cavage"},
		{"wrong key", "POST", func(r *http.Request) { SignRequest(r, body, "k", key, now) }, other, true, ""},
		{"unsigned", "POST", func(r *http.Request) {}, key, true, ""},
		{"too old", "POST", func(r *http.Request) { SignRequest(r, body, "k", key, now.Add(-13*time.Hour)) }, key, true, ""},
		{"future", "POST", func(r *http.Request) { SignRequest(r, body, "k", key, now.Add(2*time.Hour)) }, key, true, ""},
		{"body changed", "POST", func(r *http.Request) { SignRequest(r, []byte(`{"other":1}`), "k", key, now) }, key, true, ""},
		{"digest recomputed but not re-signed", "POST", func(r *http.Request) {
			SignRequest(r, []byte(`{"other":1}`), "k", key, now)
			sum := sha256.Sum256(body)
			r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
		}, key, true, ""},
		{"digest not signed", "POST", func(r *http.Request) {
			SignRequest(r, body, "k", key, now)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), " digest", "", 1))
		}, key, true, ""},
		{"unknown algorithm", "POST", func(r *http.Request) {
			SignRequest(r, body, "k", key, now)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "rsa-sha256", "ed25519", 1))
		}, key, true, ""},
		{"rfc9421", "POST", func(r *http.Request) { signRFC9421(t, r, body, "k", key, now) }, key, false, "rfc9421"},
		{"rfc9421 preferred over cavage", "POST", func(r *http.Request) {
			SignRequest(r, body, "cavage-key", key, now)
			signRFC9421(t, r, body, "k", key, now)
		}, key, false, "rfc9421"},
		{"rfc9421 wrong key", "POST", func(r *http.Request) { signRFC9421(t, r, body, "k", key, now) }, other, true, ""},
		{"rfc9421 old", "POST", func(r *http.Request) { signRFC9421(t, r, body, "k", key, now.Add(-24*time.Hour)) }, key, true, ""},
		{"rfc9421 body changed", "POST", func(r *http.Request) { signRFC9421(t, r, []byte("{}"), "k", key, now) }, key, true, ""},
		{"rfc9421 pss", "POST", func(r *http.Request) {
			signRFC9421(t, r, body, "k", key, now)
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), "rsa-v1_5-sha256", "rsa-pss-sha512", 1))
		}, key, true, ""},
		{"rfc9421 second label usable", "POST", func(r *http.Request) {
			signRFC9421(t, r, body, "k", key, now)
			in := strings.TrimPrefix(r.Header.Get("Signature-Input"), "sig1=")
			sig := strings.TrimPrefix(r.Header.Get("Signature"), "sig1=")
			r.Header.Set("Signature-Input", `ed=("@method");created=1;keyid="other";alg="ed25519", sig2=`+in)
			r.Header.Set("Signature", "ed=:AAAA:, sig2="+sig)
		}, key, false, "rfc9421"},
		{"cavage expired", "POST", func(r *http.Request) {
			SignRequest(r, body, "k", key, now)
			r.Header.Set("Signature", r.Header.Get("Signature")+`,expires="1"`)
		}, key, true, ""},
		{"rfc9421 garbage", "POST", func(r *http.Request) {
			r.Header.Set("Signature-Input", `sig1=(@method;x`)
			r.Header.Set("Signature", "sig1=:AA==:")
		}, key, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rb io.Reader
			if tt.method == "POST" {
				rb = bytes.NewReader(body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+"/coops/b/inbox", rb)
			if err != nil {
				t.Fatal(err)
			}
			tt.prepare(req)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			res := <-results
			err = res.err
			if err == nil {
				err = res.sig.Verify(&tt.verify.PublicKey)
			}
			if tt.wantErr {
				if !errors.Is(err, ErrSignature) {
					t.Fatalf("got %v, want a signature error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.sig.Scheme != tt.scheme || res.sig.KeyID != "k" {
				t.Fatalf("scheme %q key %q", res.sig.Scheme, res.sig.KeyID)
			}
		})
	}
}

func TestParseCavageParams(t *testing.T) {
	got := parseCavageParams(`keyId="https://a.example/u#main-key",algorithm="hs2019",headers="(request-target) host date",signature="YWJj=="`)
	want := map[string]string{"keyid": "https://a.example/u#main-key", "algorithm": "hs2019", "headers": "(request-target) host date", "signature": "YWJj=="}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func FuzzParseSignatureHeaders(f *testing.F) {
	f.Add(`sig1=("@method" "@target-uri");created=1;keyid="k"`, `sig1=:AA==:`, `keyId="k",headers="(request-target) host date",signature="AA=="`)
	f.Fuzz(func(t *testing.T, input, sig, cavage string) {
		r := httptest.NewRequest("POST", "http://a.example/inbox", nil)
		r.Header.Set("Signature-Input", input)
		r.Header.Set("Signature", sig)
		u, _ := url.Parse("http://a.example")
		if _, err := ParseRequestSignature(r, []byte("{}"), u, time.Unix(1, 0)); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("error not marked as a signature error: %v", err)
		}
		r.Header.Del("Signature-Input")
		r.Header.Set("Signature", cavage)
		if _, err := ParseRequestSignature(r, []byte("{}"), u, time.Unix(1, 0)); err != nil && !errors.Is(err, ErrSignature) {
			t.Fatalf("error not marked as a signature error: %v", err)
		}
	})
}

func BenchmarkSignRequest(b *testing.B) {
	key, _ := keys(b)
	body := []byte(`{"type":"Update"}`)
	now := time.Now()
	for b.Loop() {
		r, _ := http.NewRequest("POST", "http://b.example/inbox", bytes.NewReader(body))
		if err := SignRequest(r, body, "k", key, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRequest(b *testing.B) {
	key, _ := keys(b)
	body := []byte(`{"type":"Update"}`)
	now := time.Now()
	r := httptest.NewRequest("POST", "http://b.example/inbox", bytes.NewReader(body))
	if err := SignRequest(r, body, "k", key, now); err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("http://b.example")
	b.ReportAllocs()
	for b.Loop() {
		s, err := ParseRequestSignature(r, body, u, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Verify(&key.PublicKey); err != nil {
			b.Fatal(err)
		}
	}
}
