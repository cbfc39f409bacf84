package referrals

import (
	"errors"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/internal/validate"
)

func goodIntake() Intake {
	return Intake{
		Details: Details{Organization: " Food Bank ", Description: "We need a new website.",
			Categories: []string{"web-development", "hosting", "web-development"}, Skills: []string{"Drupal", "drupal"},
			BudgetMin: ptr(1000), BudgetMax: ptr(5000), Currency: "eur", Deadline: "2030-06-01", Country: "de",
			Region: "Berlin", Language: "DE", ConsentToShare: true},
		Contact: Contact{Name: "Ann", Email: " ann@foodbank.example ", Phone: "+49 30 1234-56"},
	}
}

func ptr(v int64) *int64 { return &v }

func TestIntakeNormalize(t *testing.T) {
	in := goodIntake()
	if err := in.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if in.Organization != "Food Bank" || in.Email != "ann@foodbank.example" || in.Currency != "EUR" ||
		in.Country != "DE" || in.Language != "de" || len(in.Categories) != 2 || len(in.Skills) != 1 {
		t.Fatalf("not normalized: %+v %s", in.Details, in.Email)
	}
}

func TestIntakeErrors(t *testing.T) {
	tests := []struct {
		field string
		edit  func(in *Intake)
	}{
		{"email", func(in *Intake) { in.Email = "" }},
		{"email", func(in *Intake) { in.Email = "not an address" }},
		{"description", func(in *Intake) { in.Description = "  " }},
		{"description", func(in *Intake) { in.Description = strings.Repeat("x", 5001) }},
		{"organization", func(in *Intake) { in.Organization = strings.Repeat("x", 201) }},
		{"budget_min", func(in *Intake) { in.BudgetMin = ptr(-1) }},
		{"budget_max", func(in *Intake) { in.BudgetMin, in.BudgetMax = ptr(10), ptr(5) }},
		{"currency", func(in *Intake) { in.Currency = "EURO" }},
		{"currency", func(in *Intake) { in.Currency = "" }},
		{"country", func(in *Intake) { in.Country = "XX" }},
		{"language", func(in *Intake) { in.Language = "not a tag!" }},
		{"categories", func(in *Intake) { in.Categories = []string{"plumbing"} }},
		{"skills", func(in *Intake) { in.Skills = []string{strings.Repeat("s", 41)} }},
		{"deadline", func(in *Intake) { in.Deadline = "2030-04-29" }},
		{"deadline", func(in *Intake) { in.Deadline = "1 June" }},
		{"phone", func(in *Intake) { in.Phone = "call me maybe" }},
		{"contact_name", func(in *Intake) { in.Name = "a\x00b" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			in := goodIntake()
			tt.edit(&in)
			err := in.Normalize(now)
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
				t.Fatalf("got %v, want an error for %s", err, tt.field)
			}
		})
	}
}

func TestDeadlineYesterdayAccepted(t *testing.T) {
	in := goodIntake()
	in.Deadline = "2030-04-30" // now is 2030-05-01 12:00 UTC: still today west of UTC
	if err := in.Normalize(now); err != nil {
		t.Fatal(err)
	}
}
