package api

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// The OpenAPI 3.1 document of every route prefsd serves, in every dialect,
// kept as a source file and served at /api/schema/ as InvenTree serves its
// own with drf-spectacular's SpectacularAPIView: YAML by default, JSON
// through content negotiation (?format=json or an Accept header). The api
// package's tests check the document against the routes the engine
// registers and every answer the tests receive against the document.

// openapiYAML is the document as written.
//
//go:embed openapi/openapi.yaml
var openapiYAML []byte

const schemaPath = "/api/schema"

var schemaMethods = []string{http.MethodGet, http.MethodHead, http.MethodOptions}

// schemaRenderer is one representation of the document, as one of
// drf-spectacular's renderers offers it.
type schemaRenderer struct {
	// mediaType is what an Accept header names; format is what ?format=
	// names.
	mediaType, format string
	// contentType is the answer's Content-Type.
	contentType string
	yaml        bool
}

// schemaRenderers are drf-spectacular's renderers in its order: the first
// one a client accepts wins, so YAML is the default.
var schemaRenderers = []schemaRenderer{
	{"application/vnd.oai.openapi", "openapi", "application/vnd.oai.openapi; charset=utf-8", true},
	{"application/yaml", "openapi", "application/yaml; charset=utf-8", true},
	{"application/vnd.oai.openapi+json", "json", "application/vnd.oai.openapi+json", false},
	{"application/json", "json", "application/json", false},
}

// schemaDescription is SpectacularAPIView's docstring, which OPTIONS shows.
const schemaDescription = "OpenApi3 schema for this API. Format can be selected via content negotiation.\n\n" +
	"- YAML: application/vnd.oai.openapi\n- JSON: application/vnd.oai.openapi+json"

// routeSchema serves the document at /api/schema/ (and without the slash).
// The JSON form is converted from the YAML source once, on first use.
func (s *server) routeSchema(r *gin.Engine) {
	var once sync.Once
	var asJSON []byte
	var convErr error
	toJSON := func() ([]byte, error) {
		once.Do(func() { asJSON, convErr = yamlToJSON(openapiYAML) })
		return asJSON, convErr
	}
	serve := func(c *gin.Context) {
		rd, ok := negotiateSchema(c)
		if !ok {
			return
		}
		body := openapiYAML
		if !rd.yaml {
			b, err := toJSON()
			if err != nil {
				s.log.Error("openapi document", "err", err)
				detail(c, http.StatusInternalServerError, msgServerError)
				return
			}
			body = b
		}
		c.Data(http.StatusOK, rd.contentType, body)
		c.Abort()
	}
	handlers := map[string]gin.HandlerFunc{
		http.MethodGet:     serve,
		http.MethodHead:    serve,
		http.MethodOptions: schemaOptions,
	}
	pre := []gin.HandlerFunc{s.schemaPrelude(allowValue(schemaMethods))}
	route(r, schemaPath+"/", pre, methodNotAllowed(schemaMethods...), handlers)
	route(r, schemaPath, pre, methodNotAllowed(schemaMethods...), handlers)
}

// schemaPrelude runs Django REST framework's steps before the schema view,
// which anyone may call: content negotiation, then authentication, where
// refused credentials still get 401 and an authenticated caller counts
// against the per-user rate limit. allow is the Allow header's value.
func (s *server) schemaPrelude(allow []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(dialectKey, "schema")
		setSharedHeader(c, hdrAllow, allow)
		setHeader(c, hdrVary, "Accept")
		if _, ok := negotiateSchema(c); !ok {
			return
		}
		u, ok := s.drfTokenAuth(c, false)
		if !ok {
			return
		}
		if u != nil && !s.setUser(c, u) {
			return
		}
		c.Next()
	}
}

// negotiateSchema picks the representation as Django REST framework's
// DefaultContentNegotiation does: ?format= narrows the renderers (none
// left is 404), then the Accept header's media types, most specific
// first, each tried against the renderers in order (none matching is
// 406). ?format=yaml is taken as ?format=openapi. It answers errors
// itself.
func negotiateSchema(c *gin.Context) (schemaRenderer, bool) {
	renderers := schemaRenderers
	if format := c.Query("format"); format != "" {
		if format == "yaml" {
			format = "openapi"
		}
		renderers = nil
		for _, rd := range schemaRenderers {
			if rd.format == format {
				renderers = append(renderers, rd)
			}
		}
		if len(renderers) == 0 {
			detail(c, http.StatusNotFound, msgNotFound)
			return schemaRenderer{}, false
		}
	}
	accept := strings.Join(c.Request.Header.Values(hdrAccept), ",")
	if strings.TrimSpace(accept) == "" {
		accept = "*/*"
	}
	var byPrecedence [4][]string
	for _, entry := range strings.Split(accept, ",") {
		if entry = strings.TrimSpace(entry); entry != "" {
			p := mediaPrecedence(entry)
			byPrecedence[p] = append(byPrecedence[p], entry)
		}
	}
	for p := len(byPrecedence) - 1; p >= 0; p-- {
		for _, rd := range renderers {
			for _, entry := range byPrecedence[p] {
				if itMediaMatches(rd.mediaType, entry) {
					return rd, true
				}
			}
		}
	}
	detail(c, http.StatusNotAcceptable, msgITNotAcceptable)
	return schemaRenderer{}, false
}

// mediaPrecedence ranks an Accept entry as Django REST framework does: 0
// for */*, 1 for type/*, 2 for a full type without parameters other than
// q, 3 for one with parameters.
func mediaPrecedence(entry string) int {
	full, params, _ := strings.Cut(entry, ";")
	main, sub, _ := strings.Cut(strings.TrimSpace(full), "/")
	switch {
	case main == "*":
		return 0
	case sub == "*":
		return 1
	}
	for _, p := range strings.Split(params, ";") {
		name, _, _ := strings.Cut(p, "=")
		if name = strings.TrimSpace(name); name != "" && name != "q" {
			return 3
		}
	}
	return 2
}

// schemaOptions answers OPTIONS with Django REST framework's simple
// metadata for the schema view.
func schemaOptions(c *gin.Context) {
	renders := make([]string, len(schemaRenderers))
	for i, rd := range schemaRenderers {
		renders[i] = rd.mediaType
	}
	respond(c, http.StatusOK, struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Renders     []string `json:"renders"`
		Parses      []string `json:"parses"`
	}{"Spectacular API", schemaDescription, renders, itParsers})
}

// errYAMLToJSON is returned for YAML that has no JSON equivalent.
var errYAMLToJSON = errors.New("yaml has no JSON equivalent")

// yamlToJSON converts a YAML document to compact JSON, keeping the order of
// every mapping's keys. It accepts what JSON can say: mappings with scalar
// keys, sequences, strings, finite numbers, booleans and null; aliases are
// expanded.
func yamlToJSON(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	return appendYAMLAsJSON(nil, &doc, 0)
}

// maxYAMLDepth bounds the nesting appendYAMLAsJSON follows, aliases
// included.
const maxYAMLDepth = 200

func appendYAMLAsJSON(b []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d levels", errYAMLToJSON, maxYAMLDepth)
	}
	var err error
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("%w: %d documents", errYAMLToJSON, len(n.Content))
		}
		return appendYAMLAsJSON(b, n.Content[0], depth+1)
	case yaml.AliasNode:
		return appendYAMLAsJSON(b, n.Alias, depth+1)
	case yaml.MappingNode:
		b = append(b, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, fmt.Errorf("%w: line %d: a mapping key must be a scalar", errYAMLToJSON, k.Line)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k.Value)
			b = append(b, ':')
			if b, err = appendYAMLAsJSON(b, n.Content[i+1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, item := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendYAMLAsJSON(b, item, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case yaml.ScalarNode:
		return appendYAMLScalar(b, n)
	}
	return nil, fmt.Errorf("%w: line %d: unknown node kind %d", errYAMLToJSON, n.Line, n.Kind)
}

// appendYAMLScalar appends a scalar by its resolved tag.
func appendYAMLScalar(b []byte, n *yaml.Node) ([]byte, error) {
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return appendJSONString(b, n.Value), nil
	case "!!null":
		return append(b, "null"...), nil
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return strconv.AppendBool(b, v), nil
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", errYAMLToJSON, n.Line, err)
		}
		return strconv.AppendInt(b, v, 10), nil
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: line %d: %s is not a JSON number", errYAMLToJSON, n.Line, n.Value)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("%w: line %d: tag %s", errYAMLToJSON, n.Line, n.ShortTag())
}
