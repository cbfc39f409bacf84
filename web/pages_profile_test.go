package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

func profileForm() url.Values {
	return url.Values{
		"name": {"Alpha Tech Coop"}, "summary": {"We build **accessible** websites for [nonprofits](https://alpha.example/work)."},
		"website": {"https://alpha.example"}, "city": {"Leipzig"}, "region": {"Saxony"}, "country": {"de"},
		"regions_served": {"Saxony, Berlin"}, "remote_friendly": {"on"}, "languages": {"de, en, pt-BR"},
		"year_founded": {"2015"}, "legal_form": {"worker-coop"}, "worker_owners": {"7"}, "workers": {"9"},
		"networks": {"CoTech, Federation of Coops"}, "contact_email": {"Hello@Alpha.example"}, "capacity": {"limited"},
		"skills": {"WordPress, CiviCRM, accessibility"}, "approve_followers": {"on"}, "discoverable": {"on"},
	}
}

func TestProfileEdit(t *testing.T) {
	n := newTestNode(t)
	cookie := n.session(t, n.admin)

	rec := n.pageGet(t, "/manage/profile", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Edit the profile", `value="Alpha Tech Coop"`, `name="summary"`, `<select id="f-capacity"`,
		"<legend>Federation</legend>", "Approve each new follower by hand", "List this coop in other nodes&#39; directories",
		`id="f-approve_followers" name="approve_followers" value="on" aria-describedby="f-approve_followers-hint"`,
		`id="f-discoverable" name="discoverable" value="on" checked aria-describedby="f-discoverable-hint"`) // a new coop is discoverable

	rec = n.postForm(t, "/manage/profile", profileForm(), cookie)
	pageWantRedirect(t, rec, "/manage/profile?done=saved")

	co, err := n.store.CoopBySlug(context.Background(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Coop{
		Slug: "alpha", Name: "Alpha Tech Coop", Summary: profileForm().Get("summary"), Website: "https://alpha.example",
		City: "Leipzig", Region: "Saxony", Country: "DE", RegionsServed: []string{"Saxony", "Berlin"}, RemoteFriendly: true,
		Languages: []string{"de", "en", "pt-BR"}, YearFounded: 2015, LegalForm: "worker-coop", WorkerOwners: 7, Workers: 9,
		Networks: []string{"CoTech", "Federation of Coops"}, ContactEmail: "hello@alpha.example", Capacity: directory.CapacityLimited,
		Skills: []string{"WordPress", "CiviCRM", "accessibility"}, ApproveFollowers: true, Discoverable: true,
	}
	co.ID, co.CreatedAt, co.UpdatedAt = 0, want.CreatedAt, want.UpdatedAt
	if !reflect.DeepEqual(co, want) {
		t.Fatalf("stored profile\n%+v\nwant\n%+v", co, want)
	}

	rec = n.pageGet(t, "/manage/profile?done=saved", cookie)
	pageWantBody(t, rec, "Your changes are saved.", `value="Saxony, Berlin"`, `id="f-remote_friendly" name="remote_friendly" value="on" checked`,
		`<option value="limited" selected>`, `<option value="worker-coop" selected>`,
		`id="f-approve_followers" name="approve_followers" value="on" checked`, `id="f-discoverable" name="discoverable" value="on" checked`)

	// Unticking the checkboxes and clearing numbers saves false and zero: a
	// browser sends nothing at all for an unticked checkbox.
	form := profileForm()
	form.Del("remote_friendly")
	form.Del("approve_followers")
	form.Del("discoverable")
	form.Set("year_founded", "")
	pageWantStatus(t, n.postForm(t, "/manage/profile", form, cookie), http.StatusSeeOther)
	co, _ = n.store.CoopBySlug(context.Background(), "alpha")
	if co.RemoteFriendly || co.ApproveFollowers || co.Discoverable || co.YearFounded != 0 {
		t.Fatalf("remote %v, approve %v, discoverable %v, year %d", co.RemoteFriendly, co.ApproveFollowers, co.Discoverable, co.YearFounded)
	}
	rec = n.pageGet(t, "/manage/profile", cookie)
	pageWantBody(t, rec, `id="f-approve_followers" name="approve_followers" value="on" aria-describedby`,
		`id="f-discoverable" name="discoverable" value="on" aria-describedby`)

	// Ticking them again saves true.
	pageWantStatus(t, n.postForm(t, "/manage/profile", profileForm(), cookie), http.StatusSeeOther)
	co, _ = n.store.CoopBySlug(context.Background(), "alpha")
	if !co.ApproveFollowers || !co.Discoverable {
		t.Fatalf("approve %v, discoverable %v after ticking both", co.ApproveFollowers, co.Discoverable)
	}
}

func TestProfileRejectsBadInput(t *testing.T) {
	tests := []struct {
		field, value, message string
	}{
		{"name", "", "Coop name is required."},
		{"website", "javascript:alert(1)", "Website must be a web address"},
		{"country", "Narnia", "is not an ISO 3166-1 country code"},
		{"languages", "en, not a language", "is not a language tag"},
		{"year_founded", "nineteen", "Year founded must be a whole number"},
		{"year_founded", "1700", "Year founded must be a year between 1800 and this year."},
		{"worker_owners", "7.5", "Number of worker-owners must be a whole number"},
		{"workers", "-1", "Number of workers must be a number from 0 to 1,000,000."},
		{"capacity", "maybe", "Taking new work? must be one of the choices in the list."},
		{"legal_form", "corporation", "must be one of the choices in the list."},
		{"contact_email", "not an address", "Public contact e-mail must be an e-mail address"},
		{"summary", strings.Repeat("x", 5001), "Summary must be at most 5000 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value[:min(len(tt.value), 20)], func(t *testing.T) {
			n := newTestNode(t)
			before, _ := n.store.CoopBySlug(context.Background(), "alpha")
			form := profileForm()
			form.Set(tt.field, tt.value)
			rec := n.postForm(t, "/manage/profile", form, n.session(t, n.admin))
			pageWantStatus(t, rec, http.StatusBadRequest)
			id := "f-" + tt.field
			pageWantBody(t, rec, tt.message, `id="`+id+`-error"`, `aria-invalid="true"`, "Some fields need a change",
				`value="Leipzig"`) // the other values come back as typed
			if !strings.Contains(rec.Body.String(), `aria-describedby="`+id+`-error"`) &&
				!strings.Contains(rec.Body.String(), ` `+id+`-error"`) {
				t.Errorf("%s is not described by its error", tt.field)
			}
			after, _ := n.store.CoopBySlug(context.Background(), "alpha")
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("a rejected form changed the profile:\n%+v\n%+v", before, after)
			}
		})
	}
}

func TestProfileShowsEveryProblemAtOnce(t *testing.T) {
	n := newTestNode(t)
	form := profileForm()
	form.Set("workers", "many")
	form.Set("website", "ftp://x")
	rec := n.postForm(t, "/manage/profile", form, n.session(t, n.admin))
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, `id="f-workers-error"`, `id="f-website-error"`, `value="many"`)
}

// pngImage returns a w×h PNG.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 29, G: 92, B: 77, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postLogo uploads data as the logo form would.
func (n *testNode) postLogo(t *testing.T, filename string, data []byte, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if filename != "" {
		fw, err := mw.CreateFormFile("logo", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	h := http.Header{"Content-Type": {mw.FormDataContentType()}, "Sec-Fetch-Site": {"same-origin"}, "Cookie": {cookie}}
	return n.do(t, http.MethodPost, "/manage/logo", &body, h)
}

func TestLogoUploadAndServe(t *testing.T) {
	n := newTestNode(t)
	cookie := n.session(t, n.admin)
	logo := pngImage(t, 64, 64)

	pageWantStatus(t, n.pageGet(t, "/coops/alpha/logo", ""), http.StatusNotFound)
	pageWantRedirect(t, n.postLogo(t, "logo.png", logo, cookie), "/manage/profile?done=logo")

	rec := n.pageGet(t, "/coops/alpha/logo", "")
	pageWantStatus(t, rec, http.StatusOK)
	if !bytes.Equal(rec.Body.Bytes(), logo) {
		t.Fatal("served logo differs from the upload")
	}
	h := rec.Header()
	if h.Get("Content-Type") != "image/png" || h.Get("ETag") == "" || h.Get("Last-Modified") == "" ||
		!strings.Contains(h.Get("Cache-Control"), "max-age") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("logo headers %v", h)
	}
	again := n.do(t, http.MethodGet, "/coops/alpha/logo", nil, http.Header{"If-None-Match": {h.Get("ETag")}})
	pageWantStatus(t, again, http.StatusNotModified)

	rec = n.pageGet(t, "/coops/alpha", "")
	pageWantBody(t, rec, `<img class="logo" src="/coops/alpha/logo"`)

	rec = n.postForm(t, "/manage/logo/delete", nil, cookie)
	pageWantRedirect(t, rec, "/manage/profile?done=logo-deleted")
	pageWantStatus(t, n.pageGet(t, "/coops/alpha/logo", ""), http.StatusNotFound)
}

func TestLogoRejectsBadUploads(t *testing.T) {
	tests := []struct {
		name     string
		filename string
		data     func(t *testing.T) []byte
		status   int
		message  string
	}{
		{"no file", "", func(*testing.T) []byte { return nil }, http.StatusBadRequest, "Choose an image file"},
		{"empty file", "logo.png", func(*testing.T) []byte { return nil }, http.StatusBadRequest, "Choose an image file"},
		{"not an image", "logo.png", func(*testing.T) []byte { return []byte("<svg onload=alert(1)>") }, http.StatusBadRequest,
			"The logo must be a PNG, JPEG, GIF or WebP image."},
		{"too small", "tiny.png", func(t *testing.T) []byte { return pngImage(t, 4, 4) }, http.StatusBadRequest,
			"The logo must be between 16 and 4096 pixels"},
		{"too big", "big.png", func(*testing.T) []byte { return bytes.Repeat([]byte{1}, directory.MaxLogoBytes+1) },
			http.StatusRequestEntityTooLarge, "at most 1024 KiB"},
		{"far too big", "huge.png", func(*testing.T) []byte { return bytes.Repeat([]byte{1}, directory.MaxLogoBytes+200<<10) },
			http.StatusRequestEntityTooLarge, "at most 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNode(t)
			rec := n.postLogo(t, tt.filename, tt.data(t), n.session(t, n.admin))
			pageWantStatus(t, rec, tt.status)
			pageWantBody(t, rec, tt.message, `id="f-logo-error"`, "Edit the profile")
			if _, err := n.store.Logo(context.Background(), n.coop.ID); err == nil {
				t.Fatal("a rejected upload was stored")
			}
		})
	}
}

func TestLogoNotMultipart(t *testing.T) {
	n := newTestNode(t)
	rec := n.postForm(t, "/manage/logo", url.Values{"logo": {"x"}}, n.session(t, n.admin))
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, "did not arrive whole")
}
