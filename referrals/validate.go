package referrals

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

// Limits of what a request may hold.
const (
	maxDescription  = 5000
	maxOrganization = 200
	maxRegion       = 100
	maxReason       = 1000
	maxName         = 200
	maxPhone        = 40
	maxBudget       = 1_000_000_000
	maxPeers        = 20
	// MaxHopLimit caps the hop limit a request may carry, whatever the origin
	// asks.
	MaxHopLimit = 10
)

// Intake is what a client fills in to send a work request to a coop. Like
// Contact, which it embeds, it prints as "[contact redacted]" with fmt.
type Intake struct {
	Details
	Contact
}

var (
	phoneRE    = regexp.MustCompile(`^[0-9+()./ x-]*$`)
	publicIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
)

// Normalize trims the intake's fields and puts codes in canonical form, then
// checks them as of now; it returns a *validate.Error naming each bad field.
func (in *Intake) Normalize(now time.Time) error {
	var e validate.Errors
	in.Details.normalize(&e, now, true)
	in.Contact.normalize(&e)
	return e.Err()
}

func (c *Contact) normalize(e *validate.Errors) {
	c.Name = strings.TrimSpace(c.Name)
	c.Email = strings.TrimSpace(c.Email)
	c.Phone = strings.TrimSpace(c.Phone)
	validate.MaxLen(e, "contact_name", c.Name, maxName)
	if c.Email == "" {
		e.Add("email", "is required")
	}
	validate.Email(e, "email", c.Email)
	if utf8.RuneCountInString(c.Phone) > maxPhone || !phoneRE.MatchString(c.Phone) {
		e.Add("phone", "must be a phone number: digits, spaces, + - ( ) . /, at most 40 characters")
	}
}

// normalize checks the details. fresh is true for a client's intake: the
// deadline may not be in the past then, while a referral arriving later may
// carry a deadline that has passed since.
func (d *Details) normalize(e *validate.Errors, now time.Time, fresh bool) {
	d.Organization = strings.TrimSpace(d.Organization)
	d.Description = strings.TrimSpace(d.Description)
	d.Region = strings.TrimSpace(d.Region)
	validate.MaxLen(e, "organization", d.Organization, maxOrganization)
	validate.Required(e, "description", d.Description, maxDescription)
	validate.MaxLen(e, "region", d.Region, maxRegion)
	d.Categories = validate.Dedupe(d.Categories)
	for _, c := range d.Categories {
		if !slices.ContainsFunc(directory.Categories, func(o directory.Option) bool { return o.Value == c }) {
			e.Add("categories", "unknown category "+quote(c))
		}
	}
	d.Skills = validate.Tags(e, "skills", d.Skills, 20, 40)
	d.checkBudget(e)
	d.Country = validate.Country(e, "country", d.Country)
	d.Language = strings.TrimSpace(d.Language)
	if d.Language != "" {
		if tags := validate.Languages(e, "language", []string{d.Language}); len(tags) == 1 {
			d.Language = tags[0]
		}
	}
	d.checkDeadline(e, now, fresh)
}

func (d *Details) checkBudget(e *validate.Errors) {
	for _, b := range []struct {
		field string
		v     *int64
	}{{"budget_min", d.BudgetMin}, {"budget_max", d.BudgetMax}} {
		if b.v != nil && (*b.v < 0 || *b.v > maxBudget) {
			e.Add(b.field, "must be a whole amount from 0 to 1,000,000,000")
		}
	}
	if d.BudgetMin != nil && d.BudgetMax != nil && *d.BudgetMin > *d.BudgetMax {
		e.Add("budget_max", "must not be below the minimum")
	}
	d.Currency = validate.Currency(e, "currency", d.Currency)
	if (d.BudgetMin != nil || d.BudgetMax != nil) && d.Currency == "" {
		e.Add("currency", "is required with a budget")
	}
}

// checkDeadline accepts a date from yesterday on (in UTC): a client west of
// UTC may still be living the day before.
func (d *Details) checkDeadline(e *validate.Errors, now time.Time, fresh bool) {
	d.Deadline = strings.TrimSpace(d.Deadline)
	if d.Deadline == "" {
		return
	}
	t, err := time.Parse(time.DateOnly, d.Deadline)
	if err != nil {
		e.Add("deadline", "must be a date such as 2030-01-31")
		return
	}
	yesterday := now.UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	if fresh && t.Before(yesterday) {
		e.Add("deadline", "must not be in the past")
	}
	if t.Year() > now.Year()+20 {
		e.Add("deadline", "must be within 20 years")
	}
}

// checkReason checks a reason given by a member (decline, close).
func checkReason(reason string, required bool) (string, error) {
	var e validate.Errors
	reason = strings.TrimSpace(reason)
	if required {
		validate.Required(&e, "reason", reason, maxReason)
	} else {
		validate.MaxLen(&e, "reason", reason, maxReason)
	}
	return reason, e.Err()
}

// cleanPeerText makes text from a peer (a reason, a name) safe to store: it is
// not refused, since the answer is real whatever its wording, but cut and
// stripped of control characters.
func cleanPeerText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// checkPeers checks the peers a member refers a request to, and drops
// duplicates.
func checkPeers(peers []Peer) ([]Peer, error) {
	var e validate.Errors
	if len(peers) == 0 {
		e.Add("peers", "choose at least one coop")
	}
	if len(peers) > maxPeers {
		e.Add("peers", "at most 20 coops at once")
	}
	var out []Peer
	for _, p := range peers {
		p.ActorID = strings.TrimSpace(p.ActorID)
		p.Name = cleanPeerText(p.Name, maxName)
		validate.HTTPURL(&e, "peers", p.ActorID)
		if p.ActorID == "" {
			e.Add("peers", "a coop has no actor id")
		}
		if !slices.ContainsFunc(out, func(q Peer) bool { return q.ActorID == p.ActorID }) {
			out = append(out, p)
		}
	}
	return out, e.Err()
}

func quote(s string) string { return `"` + s + `"` }
