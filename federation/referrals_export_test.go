package federation

// TamperOffers makes f pass every Offer it sends through fn just before it
// is stored and delivered (nil stops), so that the multi-node tests in
// package federation_test can alter what travels and see peers refuse it.
func TamperOffers(f *Federation, fn func(peer string, offer map[string]any)) {
	f.refs.mu.Lock()
	f.refs.tamper = fn
	f.refs.mu.Unlock()
}
