package search

import "sync"

// Index is safe for concurrent use: searches run in parallel, Put and Delete
// take turns with them.
type Index struct {
	mu sync.RWMutex
}

// New returns an empty index.
func New() *Index { return &Index{} }

// Put adds d, or replaces the doc with d's ID.
func (ix *Index) Put(d Doc) { panic("search: Put not written yet") }

// Delete removes the doc with id, if any.
func (ix *Index) Delete(id int64) { panic("search: Delete not written yet") }

// Search runs q. A *QueryError reports a query that cannot run.
func (ix *Index) Search(q Query) (Results, error) { panic("search: Search not written yet") }

// Stats reports the index's size.
func (ix *Index) Stats() Stats { panic("search: Stats not written yet") }
