package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/validate"
)

// The coop's place in the network: whom it follows, who follows it, and (for
// admins) the node's deliveries and federation policy.

type networkPage struct {
	Title       string
	Coop        directory.Coop
	Handle      string
	Following   []federation.Follow
	Followers   []federation.Follow
	Pending     []federation.Follow
	Suggestions []suggestion
	Form        form
	Notice      string
}

// suggestion is a coop to follow, with who follows it in words.
type suggestion struct {
	federation.Suggestion
	FollowedBy string
}

func (s *Server) networkPage(c echo.Context, f form) (networkPage, error) {
	ctx := c.Request().Context()
	_, coop, err := s.memberCoop(c)
	if err != nil {
		return networkPage{}, err
	}
	p := networkPage{Title: "Network", Coop: coop, Handle: coop.Handle(s.cfg.BaseURL.Host), Form: f, Notice: notice(c)}
	if p.Following, err = s.fed.Following(ctx, coop.ID); err != nil {
		return p, err
	}
	followers, err := s.fed.Followers(ctx, coop.ID)
	if err != nil {
		return p, err
	}
	for _, fl := range followers {
		if fl.State == "pending" {
			p.Pending = append(p.Pending, fl)
		} else {
			p.Followers = append(p.Followers, fl)
		}
	}
	// Read from what the node stored: never waits on a peer.
	suggestions, err := s.fed.Suggestions(ctx, coop.ID)
	if err != nil {
		return p, err
	}
	for _, sg := range suggestions {
		p.Suggestions = append(p.Suggestions, suggestion{Suggestion: sg, FollowedBy: followedBy(sg.Via)})
	}
	return p, nil
}

// followedBy names who follows a suggestion: "A", "A and B", "A, B and 3
// others".
func followedBy(via []federation.SuggestionVia) string {
	names := make([]string, 0, 2)
	for _, v := range via[:min(len(via), 2)] {
		if v.Name != "" {
			names = append(names, v.Name)
		} else {
			names = append(names, v.Handle)
		}
	}
	switch rest := len(via) - len(names); {
	case rest == 1 && len(names) == 2:
		return names[0] + ", " + names[1] + " and 1 other"
	case rest > 1:
		return names[0] + ", " + names[1] + " and " + strconv.Itoa(rest) + " others"
	}
	return strings.Join(names, " and ")
}

func (s *Server) network(c echo.Context) error {
	p, err := s.networkPage(c, newForm(nil))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "network", p)
}

// follow makes the member's coop follow a peer. Resolving the handle and
// fetching the actor happen now, so that a typo is told at once; the Follow
// itself is delivered by the queue.
func (s *Server) follow(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	_, coop, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	target := strings.TrimSpace(values.Get("handle"))
	var e validate.Errors
	validate.Required(&e, "handle", target, 500)
	if err == nil && len(e) == 0 {
		err = s.fed.Follow(c.Request().Context(), coop.ID, target)
		if err != nil {
			e.Add("handle", followError(err))
		}
	}
	if len(e) > 0 {
		f := newForm(values)
		f.Errors = e
		p, perr := s.networkPage(c, f)
		if perr != nil {
			return perr
		}
		return s.render(c, http.StatusBadRequest, "network", p)
	}
	return c.Redirect(http.StatusSeeOther, "/manage/network?done=follow-sent")
}

// followError says in plain words why a follow could not be sent.
func followError(err error) string {
	switch {
	case errors.Is(err, federation.ErrFollowLocal):
		return "That coop is on this node: it is listed here already."
	case errors.Is(err, federation.ErrHostRefused):
		return "This node's federation policy does not allow that host."
	case errors.Is(err, context.DeadlineExceeded):
		return "The peer did not answer in time. Check the handle, or try again later."
	}
	return "Could not follow: " + strings.TrimPrefix(err.Error(), "federation: ")
}

// followAction runs one of the admin actions on a follow relation, named by
// the actor id in the form.
func (s *Server) followAction(do func(f *federation.Federation, ctx context.Context, coopID int64, actorID string) error, done string) echo.HandlerFunc {
	return func(c echo.Context) error {
		values, err := formParams(c)
		if err != nil {
			return err
		}
		_, coop, err := s.memberCoop(c)
		if err != nil {
			return err
		}
		err = do(s.fed, c.Request().Context(), coop.ID, values.Get("actor"))
		if errors.Is(err, federation.ErrNoSuchFollow) {
			return echo.NewHTTPError(http.StatusNotFound, "There is no such follow relation (any more).")
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/manage/network?done="+done)
	}
}

type federationPage struct {
	Title      string
	Peers      []federation.Peer
	Deliveries []federation.Delivery
	Policy     federation.Policy
	Form       form
	Notice     string
}

func (s *Server) federationPage(c echo.Context, f form) (federationPage, error) {
	ctx := c.Request().Context()
	p := federationPage{Title: "Federation", Form: f, Notice: notice(c)}
	var err error
	if p.Peers, err = s.fed.PeerHealth(ctx); err != nil {
		return p, err
	}
	if p.Deliveries, err = s.fed.Deliveries(ctx, federation.DeliveryFilter{Limit: 200}); err != nil {
		return p, err
	}
	if p.Policy, err = s.fed.Policy(ctx); err != nil {
		return p, err
	}
	return p, nil
}

func (s *Server) federationAdmin(c echo.Context) error {
	p, err := s.federationPage(c, newForm(nil))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "federation", p)
}

// retryDelivery retries one failed delivery now.
func (s *Server) retryDelivery(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	err = s.fed.RetryDelivery(c.Request().Context(), id)
	if errors.Is(err, federation.ErrDeliveryNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such delivery.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/federation?done=delivery-retried")
}

// retryPeer lifts a peer's back-off and retries its failed deliveries.
func (s *Server) retryPeer(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	if err := s.fed.RetryPeer(c.Request().Context(), values.Get("host")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/federation?done=peer-retried")
}

// savePolicy changes the federation mode or one host's rule.
func (s *Server) savePolicy(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	host := strings.TrimSpace(values.Get("host"))
	switch action := values.Get("action"); action {
	case "mode":
		mode := values.Get("mode")
		if mode != federation.ModeOpen && mode != federation.ModeAllowlist {
			return echo.NewHTTPError(http.StatusBadRequest, "The federation mode must be open or allowlist.")
		}
		err = s.fed.SetFederationMode(ctx, mode)
	case "allow":
		err = s.fed.AllowHost(ctx, host, values.Get("reason"))
	case "block":
		err = s.fed.BlockHost(ctx, host, values.Get("reason"))
	case "unblock":
		err = s.fed.UnblockHost(ctx, host)
	case "disallow":
		err = s.fed.DisallowHost(ctx, host)
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown policy action "+strconv.Quote(action)+".")
	}
	if errors.Is(err, federation.ErrBadHost) {
		f := newForm(values)
		f.Errors.Add("host", "must be a host name such as coops.example.org")
		p, perr := s.federationPage(c, f)
		if perr != nil {
			return perr
		}
		return s.render(c, http.StatusBadRequest, "federation", p)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/federation?done=policy-saved")
}
