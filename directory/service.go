package directory

import (
	"strings"
	"time"

	"github.com/coopnet/coopnet/internal/validate"
)

// Categories is the fixed list of service categories.
var Categories = []Option{
	{"web-development", "Web development"},
	{"hosting", "Hosting"},
	{"data-crm", "Data and CRM"},
	{"design", "Design"},
	{"it-support", "IT support"},
	{"training", "Training"},
	{"security", "Security"},
	{"strategy", "Strategy"},
	{"other", "Other"},
}

// PricingModels is the fixed list of ways a service is priced.
var PricingModels = []Option{
	{"hourly", "Hourly rate"},
	{"fixed", "Fixed price"},
	{"sliding-scale", "Sliding scale"},
	{"pro-bono", "Pro bono"},
}

// Service is a kind of work a coop offers.
type Service struct {
	ID          int64     `json:"id"`
	CoopID      int64     `json:"-"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	Tags        []string  `json:"tags"`
	Pricing     string    `json:"pricing"`
	PriceMin    *int64    `json:"price_min"`
	PriceMax    *int64    `json:"price_max"`
	Currency    string    `json:"currency"`
	Active      bool      `json:"active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Normalize trims the service's fields and checks them; it returns a
// *validate.Error naming each bad field.
func (s *Service) Normalize() error {
	var e validate.Errors
	s.Title = strings.TrimSpace(s.Title)
	s.Description = strings.TrimSpace(s.Description)
	validate.Required(&e, "title", s.Title, 120)
	validate.MaxLen(&e, "description", s.Description, 5000)
	validate.OneOf(&e, "category", s.Category, values(Categories))
	s.Tags = validate.Tags(&e, "tags", s.Tags, 20, 40)
	validate.OneOf(&e, "pricing", s.Pricing, values(PricingModels))
	for _, p := range []struct {
		field string
		v     *int64
	}{{"price_min", s.PriceMin}, {"price_max", s.PriceMax}} {
		if p.v != nil && (*p.v < 0 || *p.v > 1_000_000_000) {
			e.Add(p.field, "must be a whole amount from 0 to 1,000,000,000")
		}
	}
	if s.PriceMin != nil && s.PriceMax != nil && *s.PriceMin > *s.PriceMax {
		e.Add("price_max", "must not be below the minimum")
	}
	s.Currency = validate.Currency(&e, "currency", s.Currency)
	if (s.PriceMin != nil || s.PriceMax != nil) && s.Currency == "" {
		e.Add("currency", "is required with a price")
	}
	return e.Err()
}
