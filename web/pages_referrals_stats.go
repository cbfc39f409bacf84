package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/referrals"
)

// "Cooperation among cooperatives": what a coop and each peer referred to
// one another over a period, in total and by month, on a page and as CSV.

// maxStatsYears caps the period counted: the counts are made in memory
// from every referral of the period.
const maxStatsYears = 10

// statsPeriod reads the period of the form: from and to are dates, both
// included; blank means the last 12 months. It returns [from, to) for the
// store.
func statsPeriod(v url.Values, now time.Time) (from, to time.Time, e validate.Errors) {
	e = validate.Errors{}
	today := now.UTC().Truncate(24 * time.Hour)
	from, to = today.AddDate(-1, 0, 1), today
	read := func(name string, def time.Time) time.Time {
		s := strings.TrimSpace(v.Get(name))
		if s == "" {
			return def
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			e.Add(name, "must be a date such as 2030-01-31")
			return def
		}
		return t
	}
	from, to = read("from", from), read("to", to)
	if len(e) == 0 && to.Before(from) {
		e.Add("to", "must not be before the start")
	}
	if len(e) == 0 && to.After(from.AddDate(maxStatsYears, 0, 0)) {
		e.Add("from", fmt.Sprintf("must be at most %d years before the end", maxStatsYears))
	}
	return from, to.AddDate(0, 0, 1), e
}

type statsPage struct {
	Title  string
	Coop   directory.Coop
	Filter form
	Stats  referrals.Stats
	// CSV is the export of the same period.
	CSV string
}

// stats reads the member's coop's numbers over the period of the query.
func (s *Server) stats(c echo.Context) (directory.Coop, referrals.Stats, form, error) {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return co, referrals.Stats{}, form{}, err
	}
	v := c.QueryParams()
	from, to, e := statsPeriod(v, time.Now())
	f := newForm(url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.AddDate(0, 0, -1).Format(time.DateOnly)}})
	if len(e) > 0 {
		f.Values = url.Values{"from": {v.Get("from")}, "to": {v.Get("to")}}
		f.Errors = e
		return co, referrals.Stats{}, f, e.Err()
	}
	st, err := s.cfg.Referrals.Stats(c.Request().Context(), co.ID, from, to)
	return co, st, f, err
}

func (s *Server) referralStats(c echo.Context) error {
	co, st, f, err := s.stats(c)
	status := http.StatusOK
	if _, ok := f.withError(err); ok {
		status = http.StatusBadRequest
	} else if err != nil {
		return err
	}
	return s.render(c, status, "referral_stats", statsPage{
		Title: "Cooperation among cooperatives", Coop: co, Filter: f, Stats: st,
		CSV: "/manage/referrals/stats.csv?" + f.Values.Encode(),
	})
}

// referralStatsCSV exports the numbers: one row per peer and month, then
// one per peer for the whole period (month "total").
func (s *Server) referralStatsCSV(c echo.Context) error {
	_, st, _, err := s.stats(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="coopnet-referrals-%s-%s.csv"`,
		st.From.Format(time.DateOnly), st.To.AddDate(0, 0, -1).Format(time.DateOnly)))
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"month", "peer", "peer_name", "sent", "sent_accepted", "sent_completed",
		"received", "received_accepted", "received_completed"})
	write := func(month string, ps referrals.PeerStats) {
		row := []string{month, csvSafe(ps.Peer), csvSafe(ps.PeerName)}
		for _, n := range []int{ps.Sent, ps.SentAccepted, ps.SentCompleted, ps.Received, ps.ReceivedAccepted, ps.ReceivedCompleted} {
			row = append(row, strconv.Itoa(n))
		}
		_ = w.Write(row)
	}
	for _, ps := range st.Months {
		write(ps.Month, ps)
	}
	for _, ps := range st.Peers {
		write("total", ps)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		s.log.Warn("write referral stats csv", "err", err)
	}
	return nil
}
