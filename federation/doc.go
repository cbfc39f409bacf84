// Package federation speaks ActivityPub for the node's coops: actors,
// WebFinger, NodeInfo, HTTP signatures, inbox and outbox, delivery, and the
// translation between the domain's plain structs and ActivityStreams.
package federation
