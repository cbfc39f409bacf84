package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

func serviceForm() url.Values {
	return url.Values{
		"title": {"Website care"}, "description": {"Updates and *backups*."}, "category": {"web-development"},
		"tags": {"wordpress, care, WordPress"}, "pricing": {"fixed"}, "price_min": {"100"}, "price_max": {"400"},
		"currency": {"usd"}, "active": {"on"},
	}
}

func TestServiceCreateEditDelete(t *testing.T) {
	n := newTestNode(t)
	ctx := context.Background()
	cookie := n.session(t, n.admin)

	rec := n.pageGet(t, "/manage/services", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "lists no services yet", `href="/manage/services/new"`)

	rec = n.pageGet(t, "/manage/services/new", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Add a service", `<option value="" selected>Choose a category</option>`, `name="active" value="on" checked`)

	pageWantRedirect(t, n.postForm(t, "/manage/services/new", serviceForm(), cookie), "/manage/services?done=service-created")
	list, _ := n.store.ListServices(ctx, n.coop.ID, true)
	if len(list) != 1 {
		t.Fatalf("%d services", len(list))
	}
	svc := list[0]
	if svc.Title != "Website care" || svc.Currency != "USD" || *svc.PriceMin != 100 || *svc.PriceMax != 400 ||
		len(svc.Tags) != 2 || !svc.Active || svc.Category != "web-development" || svc.Pricing != "fixed" {
		t.Fatalf("stored service %+v", svc)
	}
	id := strconv.FormatInt(svc.ID, 10)
	rec = n.pageGet(t, "/manage/services?done=service-created", cookie)
	pageWantBody(t, rec, "The service is added.", `<a href="/manage/services/`+id+`/edit">Website care</a>`)

	rec = n.pageGet(t, "/manage/services/"+id+"/edit", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Edit the service", `value="Website care"`, `value="wordpress, care"`, `<option value="fixed" selected>`, "Delete")

	form := serviceForm()
	form.Set("title", "Website care plans")
	form.Del("active")
	form.Set("price_min", "")
	form.Set("price_max", "")
	form.Set("currency", "")
	pageWantRedirect(t, n.postForm(t, "/manage/services/"+id+"/edit", form, cookie), "/manage/services?done=service-saved")
	svc, _ = n.store.Service(ctx, n.coop.ID, svc.ID)
	if svc.Title != "Website care plans" || svc.Active || svc.PriceMin != nil || svc.PriceMax != nil {
		t.Fatalf("edited service %+v", svc)
	}
	pageWantStatus(t, n.pageGet(t, "/coops/alpha/services/"+id, ""), http.StatusNotFound) // now hidden

	pageWantRedirect(t, n.postForm(t, "/manage/services/"+id+"/delete", nil, cookie), "/manage/services?done=service-deleted")
	if _, err := n.store.Service(ctx, n.coop.ID, svc.ID); err == nil {
		t.Fatal("the service is still there")
	}
	pageWantStatus(t, n.postForm(t, "/manage/services/"+id+"/delete", nil, cookie), http.StatusNotFound)
}

func TestServiceRejectsBadInput(t *testing.T) {
	tests := []struct {
		field, value, message string
	}{
		{"title", " ", "Title is required."},
		{"category", "", "Category must be one of the choices in the list."},
		{"pricing", "barter", "Pricing must be one of the choices in the list."},
		{"price_min", "12.50", "Lowest price must be a whole amount without cents"},
		{"price_max", "lots", "Highest price must be a whole amount without cents"},
		{"price_max", "50", "Highest price must not be below the minimum."},
		{"currency", "", "Currency is required with a price."},
		{"currency", "dollars", "is not a currency code"},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			n := newTestNode(t)
			form := serviceForm()
			form.Set(tt.field, tt.value)
			rec := n.postForm(t, "/manage/services/new", form, n.session(t, n.admin))
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, tt.message, `id="f-`+tt.field+`-error"`, ">Updates and *backups*.</textarea>")
			if list, _ := n.store.ListServices(context.Background(), n.coop.ID, true); len(list) != 0 {
				t.Fatal("a rejected form created a service")
			}
		})
	}
}

func TestServiceOfAnotherCoopIsNotFound(t *testing.T) {
	n := newTestNode(t)
	ctx := context.Background()
	other, err := n.store.CreateCoop(ctx, directory.Coop{Slug: "beta", Name: "Beta"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := n.store.CreateService(ctx, other.ID, directory.Service{Title: "Theirs", Category: "design", Pricing: "fixed", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	cookie := n.session(t, n.admin)
	id := strconv.FormatInt(theirs.ID, 10)
	pageWantStatus(t, n.pageGet(t, "/manage/services/"+id+"/edit", cookie), http.StatusNotFound)
	pageWantStatus(t, n.postForm(t, "/manage/services/"+id+"/edit", serviceForm(), cookie), http.StatusNotFound)
	pageWantStatus(t, n.postForm(t, "/manage/services/"+id+"/delete", nil, cookie), http.StatusNotFound)
	pageWantStatus(t, n.pageGet(t, "/manage/services/nope/edit", cookie), http.StatusNotFound)
	if svc, err := n.store.Service(ctx, other.ID, theirs.ID); err != nil || svc.Title != "Theirs" {
		t.Fatalf("the other coop's service changed: %+v %v", svc, err)
	}
}
