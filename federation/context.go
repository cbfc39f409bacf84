package federation

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// Content types of what the node serves.
const (
	// ActivityContentType is the content type of every ActivityPub document
	// served here.
	ActivityContentType = "application/activity+json; charset=utf-8"
	// jsonLDContentType is for the context document at /ns, which is plain
	// JSON-LD rather than an ActivityStreams object.
	jsonLDContentType = "application/ld+json; charset=utf-8"
)

// Well-known context URLs. Only these two are referenced by URL: Fedify
// fetches any context URL it does not carry a copy of and fails the whole
// document when it cannot, so everything else is defined inline.
const (
	activityStreamsContext = "https://www.w3.org/ns/activitystreams"
	securityContext        = "https://w3id.org/security/v1"
)

// PublicAddress is the special collection that addresses an activity to
// everyone.
const PublicAddress = "https://www.w3.org/ns/activitystreams#Public"

// ServiceType is the type of a coop's service objects: schema.org's Service,
// written as a compact IRI. The bare term "Service" cannot be used: it is an
// ActivityStreams actor type, and Mastodon and go-fed would read a service
// as an actor.
const ServiceType = "schema:Service"

// serviceTypes are the spellings of schema.org's Service a peer may use:
// the compact form with Mastodon's prefix, and the expanded IRIs.
var serviceTypes = []string{ServiceType, "http://schema.org#Service", "https://schema.org/Service", "http://schema.org/Service"}

func isServiceType(t string) bool { return slices.Contains(serviceTypes, t) }

// Namespace is the IRI prefix of coopnet's own terms. It is one fixed IRI for
// every node, so that a term means the same wherever it was published, and it
// leads a person to the document that defines the terms. Readers never fetch
// it: the terms are defined inline in every document.
const Namespace = "https://github.com/coopnet/coopnet/blob/main/FEDERATION.md#"

// contextTerms returns the inline term definitions every document carries.
func (f *Federation) contextTerms() map[string]any {
	id := func(iri string) map[string]any { return map[string]any{"@id": iri, "@type": "@id"} }
	return map[string]any{
		// Mastodon's extensions, spelled as Mastodon spells them.
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
		"toot":                      "http://joinmastodon.org/ns#",
		"discoverable":              "toot:discoverable",
		"indexable":                 "toot:indexable",
		// schema.org, under the prefix Mastodon defines (http://schema.org#
		// rather than schema.org's own http://schema.org/), so that
		// PropertyValue and value expand as every Mastodon-compatible
		// reader expects; coopnet's schema.org terms use the same prefix.
		"schema":        "http://schema.org#",
		"PropertyValue": "schema:PropertyValue",
		"value":         "schema:value",

		"coopnet": Namespace,

		// The coop (an Organization in both vocabularies).
		"address":           "schema:address",
		"PostalAddress":     "schema:PostalAddress",
		"addressLocality":   "schema:addressLocality",
		"addressRegion":     "schema:addressRegion",
		"addressCountry":    "schema:addressCountry",
		"areaServed":        "schema:areaServed",
		"knowsLanguage":     "schema:knowsLanguage",
		"knowsAbout":        "schema:knowsAbout",
		"foundingDate":      "schema:foundingDate",
		"numberOfEmployees": "schema:numberOfEmployees",
		"memberOf":          "schema:memberOf",
		"email":             "schema:email",
		"sameAs":            id("schema:sameAs"),
		"remoteFriendly":    "coopnet:remoteFriendly",
		"capacity":          "coopnet:capacity",
		"legalForm":         "coopnet:legalForm",
		"workerOwners":      "coopnet:workerOwners",
		"services":          id("coopnet:services"),

		// Services.
		"serviceType":        "schema:serviceType",
		"keywords":           "schema:keywords",
		"priceSpecification": "schema:priceSpecification",
		"PriceSpecification": "schema:PriceSpecification",
		"minPrice":           "schema:minPrice",
		"maxPrice":           "schema:maxPrice",
		"priceCurrency":      "schema:priceCurrency",
		"pricingModel":       "coopnet:pricingModel",

		// Referrals (FEDERATION.md, "Referrals"): FEP-0837's ValueFlows and
		// om2 terms, spelled as FEP-0837 spells them, and coopnet's links.
		// The other referral properties are compact IRIs (schema:skills,
		// coopnet:hop...), which the prefixes above define.
		"vf":                 "https://w3id.org/valueflows/ont/vf#",
		"om2":                "http://www.ontology-of-units-of-measure.org/resource/om-2/",
		"Proposal":           "vf:Proposal",
		"Intent":             "vf:Intent",
		"purpose":            "vf:purpose",
		"unitBased":          "vf:unitBased",
		"publishes":          "vf:publishes",
		"action":             "vf:action",
		"resourceConformsTo": id("vf:resourceConformsTo"),
		"resourceQuantity":   "vf:resourceQuantity",
		"hasUnit":            "om2:hasUnit",
		"hasNumericalValue":  "om2:hasNumericalValue",
		"coopnet:keys":       id("coopnet:keys"),
		"coopnet:origin":     id("coopnet:origin"),
		"coopnet:acceptedBy": id("coopnet:acceptedBy"),
	}
}

// jsonLDContext is the @context of every document the node publishes: go-fed
// drops custom entries when it serializes, so documents are built here, with
// this context, and never re-serialized by go-fed.
func (f *Federation) jsonLDContext() []any {
	return []any{activityStreamsContext, securityContext, f.contextTerms()}
}

// withContext returns doc with the node's @context: for documents served or
// sent on their own, not for objects embedded in another.
func (f *Federation) withContext(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	out["@context"] = f.jsonLDContext()
	return out
}

// serveNS serves the coopnet context as a document of its own, for people
// and tools that look the namespace up. Documents never point to it.
func (f *Federation) serveNS(c echo.Context) error {
	return writeDocument(c, http.StatusOK, jsonLDContentType, map[string]any{"@context": f.contextTerms()})
}

// encodeJSON marshals v without Go's HTML escaping: the documents carry HTML
// (summaries, profile fields), which reads better unescaped and is valid JSON
// either way.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeDocument writes v as JSON with the given content type.
func writeDocument(c echo.Context, status int, contentType string, v any) error {
	body, err := encodeJSON(v)
	if err != nil {
		return err
	}
	return c.Blob(status, contentType, body)
}

// writeActivityJSON writes an ActivityPub document. Vary: Accept because the
// same URLs serve HTML to browsers (the actor, services).
func writeActivityJSON(c echo.Context, status int, doc any) error {
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAccept)
	return writeDocument(c, status, ActivityContentType, doc)
}

// fedError is the JSON body of a federation error.
type fedError struct {
	Message string `json:"message"`
}

// writeFedError answers with a JSON error. Federation handlers write their
// errors themselves instead of returning them: the web package's error
// handler renders HTML for anything outside /api/, and peers need JSON.
func writeFedError(c echo.Context, status int, msg string) error {
	return writeDocument(c, status, echo.MIMEApplicationJSON, fedError{Message: msg})
}

// internalError logs err and answers 500 without its details.
func (f *Federation) internalError(c echo.Context, err error) error {
	f.log.ErrorContext(c.Request().Context(), "federation request failed",
		"method", c.Request().Method, "uri", c.Request().RequestURI, "err", err)
	return writeFedError(c, http.StatusInternalServerError, "something went wrong on our side; it has been logged")
}
