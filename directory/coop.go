// Package directory owns the coops a node knows, their profiles and the
// services they offer, and the members who run the node's own coops.
package directory

import (
	"regexp"
	"strings"
	"time"

	"github.com/coopnet/coopnet/internal/validate"
)

// Capacity says whether a coop is taking new work.
type Capacity string

// The capacities a coop can declare.
const (
	CapacityOpen    Capacity = "open"
	CapacityLimited Capacity = "limited"
	CapacityClosed  Capacity = "closed"
)

// Capacities lists the capacities in the order forms show them.
var Capacities = []Option{
	{string(CapacityOpen), "Accepting new work"},
	{string(CapacityLimited), "Limited capacity"},
	{string(CapacityClosed), "Not accepting new work"},
}

// LegalForms lists the legal forms a coop can declare.
var LegalForms = []Option{
	{"worker-coop", "Worker cooperative"},
	{"multi-stakeholder", "Multi-stakeholder cooperative"},
	{"freelancer-coop", "Freelancer or shared-services cooperative"},
	{"platform-coop", "Platform cooperative"},
	{"collective", "Collective or democratic workplace"},
	{"other", "Other"},
}

// Option is a value of a fixed list and the words shown for it.
type Option struct {
	Value string
	Label string
}

// Label returns the words for value in opts, or value itself when unknown.
func Label(opts []Option, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

func values(opts []Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.Value
	}
	return out
}

// Coop is a cooperative's public profile.
type Coop struct {
	ID             int64    `json:"-"`
	Slug           string   `json:"slug"`
	Name           string   `json:"name"`
	Summary        string   `json:"summary"`
	Website        string   `json:"website"`
	City           string   `json:"city"`
	Region         string   `json:"region"`
	Country        string   `json:"country"`
	RegionsServed  []string `json:"regions_served"`
	RemoteFriendly bool     `json:"remote_friendly"`
	Languages      []string `json:"languages"`
	YearFounded    int      `json:"year_founded,omitempty"`
	LegalForm      string   `json:"legal_form"`
	WorkerOwners   int      `json:"worker_owners"`
	Workers        int      `json:"workers"`
	Networks       []string `json:"networks"`
	ContactEmail   string   `json:"contact_email"`
	Capacity       Capacity `json:"capacity"`
	Skills         []string `json:"skills"`
	// ApproveFollowers makes each new follower wait for an admin's approval.
	ApproveFollowers bool `json:"approve_followers"`
	// Discoverable lets other nodes list the coop in their directories.
	Discoverable bool      `json:"discoverable"`
	HasLogo      bool      `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,38}[a-z0-9]$`)

// ValidSlug checks the short name used in URLs and in the coop's handle
// (slug@host): it never changes once the coop exists.
func ValidSlug(e *validate.Errors, field, slug string) {
	if !slugRE.MatchString(slug) {
		e.Add(field, "must be 2 to 40 lower-case letters, digits, - or _, starting and ending with a letter or digit")
	}
}

// Normalize trims the profile's fields and puts codes in canonical form, then
// checks them; it returns a *validate.Error naming each bad field.
func (c *Coop) Normalize() error {
	var e validate.Errors
	c.Name = strings.TrimSpace(c.Name)
	c.Summary = strings.TrimSpace(c.Summary)
	c.Website = strings.TrimSpace(c.Website)
	c.City = strings.TrimSpace(c.City)
	c.Region = strings.TrimSpace(c.Region)
	c.ContactEmail = strings.ToLower(strings.TrimSpace(c.ContactEmail))
	c.LegalForm = strings.TrimSpace(c.LegalForm)

	ValidSlug(&e, "slug", c.Slug)
	validate.Required(&e, "name", c.Name, 100)
	validate.MaxLen(&e, "summary", c.Summary, 5000)
	validate.HTTPURL(&e, "website", c.Website)
	validate.MaxLen(&e, "city", c.City, 100)
	validate.MaxLen(&e, "region", c.Region, 100)
	c.Country = validate.Country(&e, "country", c.Country)
	c.RegionsServed = validate.Tags(&e, "regions_served", c.RegionsServed, 30, 80)
	c.Languages = validate.Languages(&e, "languages", c.Languages)
	if len(c.Languages) > 20 {
		e.Add("languages", "at most 20 languages")
	}
	if c.YearFounded != 0 && (c.YearFounded < 1800 || c.YearFounded > time.Now().Year()) {
		e.Add("year_founded", "must be a year between 1800 and this year")
	}
	if c.LegalForm != "" {
		validate.OneOf(&e, "legal_form", c.LegalForm, values(LegalForms))
	}
	if c.WorkerOwners < 0 || c.WorkerOwners > 1000000 {
		e.Add("worker_owners", "must be a number from 0 to 1,000,000")
	}
	if c.Workers < 0 || c.Workers > 1000000 {
		e.Add("workers", "must be a number from 0 to 1,000,000")
	}
	c.Networks = validate.Tags(&e, "networks", c.Networks, 20, 80)
	validate.Email(&e, "contact_email", c.ContactEmail)
	if c.Capacity == "" {
		c.Capacity = CapacityOpen
	}
	validate.OneOf(&e, "capacity", string(c.Capacity), values(Capacities))
	c.Skills = validate.Tags(&e, "skills", c.Skills, 50, 40)
	return e.Err()
}

// Handle is the coop's fediverse handle on host, such as alpha@coops.example.
func (c Coop) Handle(host string) string { return c.Slug + "@" + host }
