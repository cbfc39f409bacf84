package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The last part of the HTTP phase: profile changes written to the database
// from this process, timed until the search API finds them.

// changeTimeout bounds the wait for one change to show in the API.
const changeTimeout = 10 * time.Second

// timeChanges renames peers' coops, one at a time, through
// directory.Store.UpsertRemoteCoop (which records a change-feed row, as the
// inbox's writes do), and times each from the call until the API's search
// for the new name finds the coop under it. The node is another process:
// it learns of the change only from the feed.
func timeChanges(ctx context.Context, n *searchNetwork, base string, changes int, out io.Writer) error {
	if changes == 0 {
		return nil
	}
	client := &http.Client{Timeout: 5 * time.Second}
	var visible, writes []time.Duration
	for i := range changes {
		// Start at a random moment of the node's 250 ms feed timer.
		if !sleep(ctx, time.Duration(200+rand.IntN(250))*time.Millisecond) {
			return ctx.Err()
		}
		c := n.coops[(i*7919+13)%len(n.coops)]
		word := fmt.Sprintf("Zelquor%c%c", 'a'+i%26, 'a'+i/26%26)
		c.Name = word + " Workers"
		start := time.Now()
		if _, err := n.store.UpsertRemoteCoop(ctx, nil, c); err != nil {
			return fmt.Errorf("change %d: %w", i+1, err)
		}
		writes = append(writes, time.Since(start))
		err := await(ctx, changeTimeout, "the API finds "+c.Name, func() (bool, error) {
			return searchFinds(ctx, client, base, word, c.Name)
		})
		if err != nil {
			return fmt.Errorf("change %d: %w", i+1, err)
		}
		visible = append(visible, time.Since(start))
	}
	slices.Sort(visible)
	var each []string
	for _, d := range visible {
		each = append(each, fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)))
	}
	fmt.Fprintf(out, "profile change searchable: median %s, max %s over %d changes (target < 1 s); UpsertRemoteCoop median %s\n",
		ms(median(visible)), ms(visible[len(visible)-1]), len(visible), ms(median(writes)))
	fmt.Fprintf(out, "  each, sorted (ms): %s\n", strings.Join(each, " "))
	return nil
}

// searchFinds reports whether a search for q lists a coop named name.
func searchFinds(ctx context.Context, client *http.Client, base, q, name string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/search?"+url.Values{"q": {q}}.Encode(), nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("search %q: status %d", q, resp.StatusCode)
	}
	var page struct {
		Results []struct {
			Name string `json:"name"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return false, fmt.Errorf("search %q: %w", q, err)
	}
	for _, r := range page.Results {
		if r.Name == name {
			return true, nil
		}
	}
	return false, nil
}
