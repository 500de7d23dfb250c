package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/prefsd/prefsd/api"
)

// The OpenAPI document (api/openapi/openapi.yaml) is the contract of every
// route, and these tests keep it true:
//
//   - TestOpenAPIRoutes: every route the engine registers is documented,
//     and every documented operation is registered.
//   - TestOpenAPIDocument: the document loads as OpenAPI 3.1 with libopenapi,
//     validates against the OpenAPI 3.1 schema, every $ref resolves, every
//     operation has a unique operationId, and every schema compiles.
//   - TestMain: every answer the package's tests receive (through
//     http.DefaultTransport, which it wraps, or through a handler wrapped
//     with recordAnswers) is checked, once they have run, against the
//     operation's response for its status and Content-Type: the body
//     against the schema (JSON Schema 2020-12, santhosh-tekuri/jsonschema),
//     the required headers, and no body where none is described. Any
//     mismatch fails the package with the method, path, status and error.

// TestMain runs the tests, then checks every answer they received against
// the OpenAPI document. Recording is off while fuzzing or benchmarking,
// where the answers are unbounded.
func TestMain(m *testing.M) {
	flag.Parse()
	answers.off = flagSet("test.fuzz") || flagSet("test.fuzzworker") || flagSet("test.bench")
	next := http.DefaultTransport
	http.DefaultTransport = &recordingTransport{next: next, log: answers}
	code := m.Run()
	http.DefaultTransport = next
	if !answers.off {
		if report := checkAnswers(answers.all()); report != "" {
			fmt.Fprint(os.Stderr, report)
			code = 1
		}
	}
	os.Exit(code)
}

// flagSet reports whether a test flag has a value other than its zero.
func flagSet(name string) bool {
	f := flag.Lookup(name)
	if f == nil {
		return false
	}
	v := f.Value.String()
	return v != "" && v != "false" && v != "0"
}

// ---------------------------------------------------------------------------
// Recording

// answer is one answer as a test received it.
type answer struct {
	// test names the test that sent the request, when it is known.
	test   string
	method string
	// target is the escaped path and query sent.
	target string
	status int
	header http.Header
	body   []byte
}

// answerLog collects answers from every goroutine of the package's tests.
type answerLog struct {
	// off is set before the tests run and read only after.
	off bool

	mu   sync.Mutex
	list []answer
}

func (l *answerLog) add(a answer) {
	if l.off {
		return
	}
	l.mu.Lock()
	l.list = append(l.list, a)
	l.mu.Unlock()
}

func (l *answerLog) all() []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// answers is the package's log: every test's HTTP clients and recorded
// handlers feed it, and TestMain checks it.
var answers = &answerLog{}

// testNameKey carries the sending test's name in a request's context.
type testNameKey struct{}

// withTestName returns req naming t as its sender in the recorded answer.
func withTestName(req *http.Request, t testing.TB) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), testNameKey{}, t.Name()))
}

func testNameOf(req *http.Request) string {
	name, _ := req.Context().Value(testNameKey{}).(string)
	return name
}

// recordingTransport records every answer it carries, read in full.
type recordingTransport struct {
	next http.RoundTripper
	log  *answerLog
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil || rt.log.off {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		// An answer cut short is the test's to see, not a document's.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), &failingReader{err}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	rt.log.add(answer{test: testNameOf(req), method: req.Method, target: req.URL.RequestURI(),
		status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	return resp, nil
}

// failingReader returns err once its reader has been drained.
type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

// recordAnswers wraps a handler that tests call in process, so that its
// answers are recorded as those over HTTP are.
func recordAnswers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		status := tw.status
		if status == 0 {
			status = http.StatusOK
		}
		answers.add(answer{test: testNameOf(r), method: r.Method, target: r.URL.RequestURI(),
			status: status, header: w.Header().Clone(), body: tw.body.Bytes()})
	})
}

// teeWriter keeps a copy of what a handler writes.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (tw *teeWriter) WriteHeader(code int) {
	if tw.status == 0 {
		tw.status = code
	}
	tw.ResponseWriter.WriteHeader(code)
}

func (tw *teeWriter) Write(b []byte) (int, error) {
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	tw.body.Write(b)
	return tw.ResponseWriter.Write(b)
}

// checkAnswers checks answers against the document and returns a report of
// those that do not match, one line per kind of mismatch, or "".
func checkAnswers(list []answer) string {
	if len(list) == 0 {
		return ""
	}
	doc, err := openAPIDocument()
	if err != nil {
		return fmt.Sprintf("openapi: the document does not load: %v\n", err)
	}
	type failure struct {
		first answer
		where string
		err   string
		n     int
	}
	failures := map[string]*failure{}
	for _, a := range list {
		where, err := doc.check(a)
		if err == nil {
			continue
		}
		key := a.method + " " + where + " " + strconv.Itoa(a.status) + " " + err.Error()
		if f, ok := failures[key]; ok {
			f.n++
			continue
		}
		failures[key] = &failure{first: a, where: where, err: err.Error(), n: 1}
	}
	if len(failures) == 0 {
		return ""
	}
	keys := make([]string, 0, len(failures))
	for k := range failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "openapi: %d kinds of answers (of %d checked) do not match api/openapi/openapi.yaml:\n", len(failures), len(list))
	for i, k := range keys {
		if i == 50 {
			fmt.Fprintf(&b, "... and %d more\n", len(keys)-i)
			break
		}
		f := failures[k]
		test := f.first.test
		if test == "" {
			test = "a test"
		}
		fmt.Fprintf(&b, "--- %s %s -> %d (%d answers; first: %s %s in %s):\n    %s\n",
			f.first.method, f.where, f.first.status, f.n, f.first.method, f.first.target, test,
			strings.ReplaceAll(f.err, "\n", "\n    "))
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// The document, ready to check answers against

// docURL is where the compiler finds the document.
const docURL = "mem:///openapi.json"

// openAPI is the loaded document.
type openAPI struct {
	// root is the document as JSON values, as the compiler reads it.
	root any
	// router routes a request as the engine would, to the document's
	// path template.
	router *gin.Engine

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer
}

// openAPIDocument loads the document once for the whole package.
var openAPIDocument = sync.OnceValues(loadOpenAPI)

func loadOpenAPI() (*openAPI, error) {
	raw, err := api.YAMLToJSON(api.OpenAPIYAML())
	if err != nil {
		return nil, err
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, root); err != nil {
		return nil, err
	}
	o := &openAPI{root: root, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	if o.router, err = o.buildRouter(); err != nil {
		return nil, err
	}
	return o, nil
}

// templateHeader carries the matched path template out of the router.
const templateHeader = "X-Openapi-Template"

// buildRouter registers every documented operation on a gin engine
// configured as api.New configures its own, so that a request finds the
// template the real engine would have matched.
func (o *openAPI) buildRouter() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	r.UseRawPath = true
	r.UnescapePathValues = true
	ops, err := o.operations()
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		template := op.path
		r.Handle(op.method, openAPIToGin(op.path), func(c *gin.Context) {
			c.Header(templateHeader, template)
			c.Status(http.StatusNoContent)
		})
	}
	return r, nil
}

// operation is one documented method of one path.
type operation struct {
	method, path string
	// ptr is the operation's JSON pointer in the document.
	ptr string
	obj map[string]any
}

var httpMethods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

// operations lists the documented operations, by path then method.
func (o *openAPI) operations() ([]operation, error) {
	paths, ok := o.lookup("/paths").(map[string]any)
	if !ok {
		return nil, errors.New("the document has no paths")
	}
	var out []operation
	for _, p := range sortedKeys(paths) {
		item, ok := paths[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("path %s is not an object", p)
		}
		for _, m := range httpMethods {
			obj, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			out = append(out, operation{method: strings.ToUpper(m), path: p,
				ptr: "/paths/" + escapePointer(p) + "/" + m, obj: obj})
		}
	}
	return out, nil
}

// route returns the document's path template for a request, "" if none.
func (o *openAPI) route(method, target string) string {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return ""
	}
	req := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: "prefsd.test"}
	w := httptest.NewRecorder()
	o.router.ServeHTTP(w, req)
	return w.Header().Get(templateHeader)
}

// check returns nil if the answer matches the document, and where in the
// document it looked.
func (o *openAPI) check(a answer) (string, error) {
	template := o.route(a.method, a.target)
	var respPtr string
	if template == "" {
		// A URL no route serves (or a method an admin or cluster URL
		// does not register) is the engine's 404, which the document
		// names at x-prefsd-no-route.
		template = "(no route)"
		if o.lookup("/x-prefsd-no-route") == nil {
			return template, errors.New("no documented operation, and no x-prefsd-no-route answer")
		}
		if a.status != http.StatusNotFound {
			return template, fmt.Errorf("no documented operation for %s %s, and not the engine's 404", a.method, pathOf(a.target))
		}
		respPtr = "/x-prefsd-no-route"
	} else {
		opPtr := "/paths/" + escapePointer(template) + "/" + strings.ToLower(a.method)
		responses, _ := o.lookup(opPtr + "/responses").(map[string]any)
		code := strconv.Itoa(a.status)
		switch {
		case responses[code] != nil:
		case responses[code[:1]+"XX"] != nil:
			code = code[:1] + "XX"
		case responses["default"] != nil:
			code = "default"
		default:
			return template, fmt.Errorf("status %d is not documented (documented: %s)", a.status, strings.Join(sortedKeys(responses), ", "))
		}
		respPtr = opPtr + "/responses/" + code
	}
	respPtr, resp, err := o.resolve(respPtr)
	if err != nil {
		return template, err
	}
	if err := o.checkHeaders(respPtr, resp, a.header); err != nil {
		return template, err
	}
	return template, o.checkBody(respPtr, resp, a)
}

// checkHeaders checks the documented headers: the required ones must be
// there, and any that is there must match its schema.
func (o *openAPI) checkHeaders(respPtr string, resp map[string]any, got http.Header) error {
	headers, _ := resp["headers"].(map[string]any)
	for _, name := range sortedKeys(headers) {
		hPtr, h, err := o.resolve(respPtr + "/headers/" + escapePointer(name))
		if err != nil {
			return err
		}
		values := got.Values(name)
		if len(values) == 0 {
			if required, _ := h["required"].(bool); required {
				return fmt.Errorf("header %s is required but missing", name)
			}
			continue
		}
		if h["schema"] == nil {
			continue
		}
		sch, err := o.schema(hPtr + "/schema")
		if err != nil {
			return err
		}
		for _, v := range values {
			if err := sch.Validate(v); err != nil {
				return fmt.Errorf("header %s: %q: %w", name, v, err)
			}
		}
	}
	return nil
}

// checkBody checks the answer's Content-Type and body.
func (o *openAPI) checkBody(respPtr string, resp map[string]any, a answer) error {
	content, _ := resp["content"].(map[string]any)
	ctype := a.header.Get("Content-Type")
	if len(content) == 0 {
		switch {
		case len(a.body) > 0:
			return fmt.Errorf("a body where the document describes none: %s", clipBody(a.body))
		case ctype != "":
			return fmt.Errorf("Content-Type %q where the document describes no body", ctype)
		}
		return nil
	}
	if ctype == "" && len(a.body) == 0 {
		if optional, _ := resp["x-prefsd-body-optional"].(bool); optional {
			return nil
		}
		return fmt.Errorf("no body and no Content-Type, where the document describes %s", strings.Join(sortedKeys(content), ", "))
	}
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ctype, err)
	}
	if content[mt] == nil {
		return fmt.Errorf("Content-Type %q is not documented (documented: %s)", ctype, strings.Join(sortedKeys(content), ", "))
	}
	if a.method == http.MethodHead {
		return nil // HEAD answers carry no body
	}
	mediaPtr := respPtr + "/content/" + escapePointer(mt)
	if o.lookup(mediaPtr+"/schema") == nil {
		return nil
	}
	sch, err := o.schema(mediaPtr + "/schema")
	if err != nil {
		return err
	}
	v, err := decodeBody(mt, a.body)
	if err != nil {
		return fmt.Errorf("%s body: %w: %s", mt, err, clipBody(a.body))
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("body %s: %w", clipBody(a.body), err)
	}
	return nil
}

// decodeBody reads a body as the JSON value its media type carries.
func decodeBody(mt string, body []byte) (any, error) {
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return jsonschema.UnmarshalJSON(bytes.NewReader(body))
	case mt == "application/yaml" || mt == "application/vnd.oai.openapi":
		raw, err := api.YAMLToJSON(body)
		if err != nil {
			return nil, err
		}
		return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	case strings.HasPrefix(mt, "text/") || mt == "application/openmetrics-text":
		return string(body), nil
	}
	return nil, errors.New("no way to read this media type")
}

// schema compiles (once) the schema at a JSON pointer of the document.
func (o *openAPI) schema(ptr string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[ptr]; ok {
		return s, nil
	}
	s, err := o.compiler.Compile(docURL + "#" + (&url.URL{Fragment: ptr}).EscapedFragment())
	if err != nil {
		return nil, fmt.Errorf("schema at %s: %w", ptr, err)
	}
	o.schemas[ptr] = s
	return s, nil
}

// resolve follows $refs from the object at ptr and returns the object
// reached and its pointer.
func (o *openAPI) resolve(ptr string) (string, map[string]any, error) {
	for range 10 {
		obj, ok := o.lookup(ptr).(map[string]any)
		if !ok {
			return ptr, nil, fmt.Errorf("%s is not an object", ptr)
		}
		ref, isRef := obj["$ref"].(string)
		if !isRef {
			return ptr, obj, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return ptr, nil, fmt.Errorf("%s: $ref %q is not local", ptr, ref)
		}
		ptr = ref[1:]
	}
	return ptr, nil, fmt.Errorf("%s: too many $refs", ptr)
}

// lookup returns the value at a JSON pointer, nil if there is none.
func (o *openAPI) lookup(ptr string) any {
	return lookupPointer(o.root, ptr)
}

func lookupPointer(v any, ptr string) any {
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
		if v == nil {
			return nil
		}
	}
	return v
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func pathOf(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

func clipBody(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%q... (%d bytes)", b[:300], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// ginParam is a gin path parameter or catch-all, and docParam the
// document's form of one.
var (
	ginParam = regexp.MustCompile(`[:*]([^/]+)`)
	docParam = regexp.MustCompile(`\{([^/}]+)\}`)
)

// ginToOpenAPI writes a gin route path as an OpenAPI path template.
func ginToOpenAPI(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// openAPIToGin writes an OpenAPI path template as a gin route path.
func openAPIToGin(p string) string { return docParam.ReplaceAllString(p, ":$1") }

// ---------------------------------------------------------------------------
// Tests of the document

// TestOpenAPIRoutes checks that the document and the engine agree on every
// method of every path.
func TestOpenAPIRoutes(t *testing.T) {
	doc, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	engine, ok := api.New(api.Options{Registry: reg, Gatherer: reg}).(*gin.Engine)
	if !ok {
		t.Fatal("api.New did not return a gin engine")
	}
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		registered[r.Method+" "+ginToOpenAPI(r.Path)] = true
	}
	ops, err := doc.operations()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, op := range ops {
		documented[op.method+" "+op.path] = true
	}
	for _, k := range sortedKeys(registered) {
		if !documented[k] {
			t.Errorf("%s is registered but not documented", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !registered[k] {
			t.Errorf("%s is documented but not registered", k)
		}
	}
	if len(registered) == 0 {
		t.Fatal("the engine registers no routes")
	}
}

// TestOpenAPIDocument lints the document.
func TestOpenAPIDocument(t *testing.T) {
	src := api.OpenAPIYAML()

	// It loads as OpenAPI 3.1 with libopenapi, references and all.
	d, err := libopenapi.NewDocument(src)
	if err != nil {
		t.Fatalf("libopenapi: %v", err)
	}
	if info := d.GetSpecInfo(); info.SpecFormat != datamodel.OAS31 || info.Version != "3.1.0" {
		t.Fatalf("libopenapi reads format %q version %q, want %q 3.1.0", info.SpecFormat, info.Version, datamodel.OAS31)
	}
	if _, err := d.BuildV3Model(); err != nil {
		t.Fatalf("libopenapi: building the model: %v", err)
	}

	// It validates against the OpenAPI 3.1 schema (libopenapi's copy).
	raw, err := api.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	oas, err := jsonschema.UnmarshalJSON(strings.NewReader(datamodel.OpenAPI31SchemaData))
	if err != nil {
		t.Fatal(err)
	}
	oasID, _ := oas.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	if err := c.AddResource(oasID, oas); err != nil {
		t.Fatal(err)
	}
	meta, err := c.Compile(oasID)
	if err != nil {
		t.Fatalf("the OpenAPI 3.1 schema: %v", err)
	}
	if err := meta.Validate(root); err != nil {
		t.Fatalf("not a valid OpenAPI 3.1 document: %v", err)
	}

	doc, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	// Every $ref resolves within the document.
	walkJSON(doc.root, "", func(ptr string, v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		ref, ok := obj["$ref"].(string)
		if !ok {
			return
		}
		if !strings.HasPrefix(ref, "#/") || doc.lookup(ref[1:]) == nil {
			t.Errorf("%s: $ref %q does not resolve", ptr, ref)
		}
	})

	// Every operation has a unique operationId, declared tags, known
	// security schemes and every path parameter its template names.
	ops, err := doc.operations()
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, tg := range asList(doc.lookup("/tags")) {
		name, _ := tg.(map[string]any)["name"].(string)
		tags[name] = true
	}
	schemes, _ := doc.lookup("/components/securitySchemes").(map[string]any)
	ids := map[string]string{}
	for _, op := range ops {
		where := op.method + " " + op.path
		id, _ := op.obj["operationId"].(string)
		switch {
		case id == "":
			t.Errorf("%s has no operationId", where)
		case ids[id] != "":
			t.Errorf("%s and %s share the operationId %q", ids[id], where, id)
		default:
			ids[id] = where
		}
		if len(asList(op.obj["tags"])) == 0 {
			t.Errorf("%s has no tag", where)
		}
		for _, tg := range asList(op.obj["tags"]) {
			if name, _ := tg.(string); !tags[name] {
				t.Errorf("%s: tag %v is not declared", where, tg)
			}
		}
		security := op.obj["security"]
		if security == nil {
			security = doc.lookup("/security")
		}
		for _, req := range asList(security) {
			for name := range req.(map[string]any) {
				if schemes[name] == nil {
					t.Errorf("%s: security scheme %q is not declared", where, name)
				}
			}
		}
		declared := map[string]bool{}
		for _, base := range []string{"/paths/" + escapePointer(op.path), op.ptr} {
			for i := range asList(doc.lookup(base + "/parameters")) {
				_, p, err := doc.resolve(base + "/parameters/" + strconv.Itoa(i))
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if p["in"] == "path" {
					if p["required"] != true {
						t.Errorf("%s: path parameter %v is not required", where, p["name"])
					}
					declared[p["name"].(string)] = true
				}
			}
		}
		named := map[string]bool{}
		for _, m := range docParam.FindAllStringSubmatch(op.path, -1) {
			named[m[1]] = true
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", where, m[1])
			}
		}
		for name := range declared {
			if !named[name] {
				t.Errorf("%s: path parameter %s is not in the path", where, name)
			}
		}
		if len(asMap(op.obj["responses"])) == 0 {
			t.Errorf("%s has no responses", where)
		}
	}

	// Every schema compiles as JSON Schema 2020-12.
	walkJSON(doc.root, "", func(ptr string, v any) {
		if strings.HasSuffix(ptr, "/schema") || strings.HasPrefix(ptr, "/components/schemas/") && strings.Count(ptr, "/") == 3 {
			if _, err := doc.schema(ptr); err != nil {
				t.Error(err)
			}
		}
	})
	if _, resp, err := doc.resolve("/x-prefsd-no-route"); err != nil || resp["description"] == nil {
		t.Errorf("x-prefsd-no-route is not a response: %v", err)
	}
}

// walkJSON calls fn for every value under v with its JSON pointer.
func walkJSON(v any, ptr string, fn func(string, any)) {
	fn(ptr, v)
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			walkJSON(x[k], ptr+"/"+escapePointer(k), fn)
		}
	case []any:
		for i, item := range x {
			walkJSON(item, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestOpenAPIChecker checks the answer checker itself: it must refuse what
// the document does not describe, or the check in TestMain proves nothing.
func TestOpenAPIChecker(t *testing.T) {
	doc, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		a      answer
		errHas string // "" if the answer matches
	}{
		{"health", answer{method: "GET", target: "/healthz", status: 200, header: jsonCT, body: []byte(`{"status":"ok"}`)}, ""},
		{"wrong value", answer{method: "GET", target: "/healthz", status: 200, header: jsonCT, body: []byte(`{"status":"bad"}`)}, "value must be 'ok'"},
		{"extra member", answer{method: "GET", target: "/healthz", status: 200, header: jsonCT, body: []byte(`{"status":"ok","x":1}`)}, "additional"},
		{"not JSON", answer{method: "GET", target: "/healthz", status: 200, header: jsonCT, body: []byte(`ok`)}, "application/json body"},
		{"undocumented status", answer{method: "GET", target: "/healthz", status: 201, header: jsonCT, body: []byte(`{}`)}, "status 201 is not documented"},
		{"undocumented content type", answer{method: "GET", target: "/healthz", status: 200,
			header: http.Header{"Content-Type": {"text/html"}}, body: []byte(`<p>`)}, "Content-Type \"text/html\" is not documented"},
		{"no route, 404", answer{method: "GET", target: "/nowhere", status: 404, header: jsonCT, body: []byte(`{"detail":"Not found."}`)}, ""},
		{"no route, 200", answer{method: "GET", target: "/nowhere", status: 200, header: jsonCT, body: []byte(`{}`)}, "no documented operation"},
		{"unregistered method", answer{method: "PUT", target: "/api/admin/users", status: 404, header: jsonCT, body: []byte(`{"detail":"Not found."}`)}, ""},
		{"405 without Allow", answer{method: "PATCH", target: "/api/users/preferences/k/", status: 405, header: jsonCT,
			body: []byte(`{"detail":"Method \"PATCH\" not allowed."}`)}, "header Allow is required"},
		{"405 with Allow", answer{method: "PUT", target: "/api/users/preferences/k/", status: 405, header: with(jsonCT, "Allow", "GET, POST"),
			body: []byte(`{"detail":"Method \"PUT\" not allowed."}`)}, ""},
		{"bad Allow", answer{method: "PUT", target: "/api/users/preferences/k/", status: 405, header: with(jsonCT, "Allow", "get"),
			body: []byte(`{"detail":"x"}`)}, "header Allow"},
		{"body where none", answer{method: "DELETE", target: "/api/users/preferences/k/", status: 204, header: http.Header{}, body: []byte(`x`)}, "a body where"},
		{"no body", answer{method: "DELETE", target: "/api/users/preferences/k/", status: 204, header: http.Header{}}, ""},
		{"missing body", answer{method: "GET", target: "/api/users/preferences/k/", status: 404, header: http.Header{}}, "no body and no Content-Type"},
		{"optional body absent", answer{method: "PATCH", target: "/api/user/v1/preferences/bob", status: 403, header: http.Header{}}, ""},
		{"optional body present", answer{method: "PATCH", target: "/api/user/v1/preferences/bob", status: 403, header: jsonCT,
			body: []byte(`{"detail":"CSRF Failed: CSRF token missing."}`)}, ""},
		{"empty 404 with a body", answer{method: "GET", target: "/api/user/v1/preferences/bob", status: 404, header: jsonCT, body: []byte(`{}`)}, "a body where"},
		{"HEAD has no body", answer{method: "HEAD", target: "/api/user/v1/preferences/bob", status: 200,
			header: with(jsonCT, "X-Prefsd-Index", "3", "X-Prefsd-Consistency", "stale")}, ""},
		{"missing read header", answer{method: "GET", target: "/api/user/v1/preferences/bob", status: 200, header: jsonCT, body: []byte(`{}`)}, "is required but missing"},
		{"escaped path parameter", answer{method: "GET", target: "/api/user/v1/preferences/a%2Fb/k", status: 200,
			header: with(jsonCT, "X-Prefsd-Index", "3", "X-Prefsd-Consistency", "leader"), body: []byte(`"v"`)}, ""},
		{"value not a string", answer{method: "GET", target: "/api/user/v1/preferences/a/k", status: 200,
			header: with(jsonCT, "X-Prefsd-Index", "3", "X-Prefsd-Consistency", "leader"), body: []byte(`1`)}, "want string"},
		{"401 without challenge", answer{method: "GET", target: "/api/settings/user/", status: 401, header: jsonCT,
			body: []byte(`{"detail":"Invalid token."}`)}, "WWW-Authenticate"},
		{"metrics", answer{method: "GET", target: "/metrics", status: 200,
			header: http.Header{"Content-Type": {"text/plain; version=0.0.4; charset=utf-8"}}, body: []byte("up 1\n")}, ""},
		{"schema as YAML", answer{method: "GET", target: "/api/schema/", status: 200,
			header: http.Header{"Content-Type": {"application/vnd.oai.openapi; charset=utf-8"}}, body: []byte("openapi: 3.1.0\ninfo: {}\npaths: {}\n")}, ""},
		{"schema not a document", answer{method: "GET", target: "/api/schema/", status: 200,
			header: http.Header{"Content-Type": {"application/vnd.oai.openapi; charset=utf-8"}}, body: []byte("- a\n")}, "want object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := doc.check(tc.a)
			switch {
			case tc.errHas == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.errHas != "" && err == nil:
				t.Errorf("accepted, want an error with %q", tc.errHas)
			case tc.errHas != "" && !strings.Contains(err.Error(), tc.errHas):
				t.Errorf("error %q, want one with %q", err, tc.errHas)
			}
		})
	}
}

// TestOpenAPIServed checks /api/schema/: the document as written (YAML) by
// default, JSON with the same content by negotiation, and Django REST
// framework's answers around them.
func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	src := api.OpenAPIYAML()
	get := func(t *testing.T, method, target, accept, auth string) response {
		t.Helper()
		req, err := http.NewRequest(method, f.node.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := f.client.Do(withTestName(req, t))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	const (
		yamlCT = "application/vnd.oai.openapi; charset=utf-8"
		jsonCT = "application/vnd.oai.openapi+json"
	)
	for _, tc := range []struct {
		name, method, target, accept, auth string
		status                             int
		ctype                              string
	}{
		{"default", "GET", "/api/schema/", "", "", 200, yamlCT},
		{"without the slash", "GET", "/api/schema", "", "", 200, yamlCT},
		{"any", "GET", "/api/schema/", "*/*", "", 200, yamlCT},
		{"application/*", "GET", "/api/schema/", "application/*", "", 200, yamlCT},
		{"format=json", "GET", "/api/schema/?format=json", "", "", 200, jsonCT},
		{"format=openapi", "GET", "/api/schema/?format=openapi", "", "", 200, yamlCT},
		{"format=yaml", "GET", "/api/schema/?format=yaml", "", "", 200, yamlCT},
		{"Accept json", "GET", "/api/schema/", "application/json", "", 200, "application/json"},
		{"Accept openapi+json", "GET", "/api/schema/", "application/vnd.oai.openapi+json", "", 200, jsonCT},
		{"Accept yaml", "GET", "/api/schema/", "application/yaml", "", 200, "application/yaml; charset=utf-8"},
		// DRF ranks by specificity, not q, then takes renderers in order.
		{"q is ignored", "GET", "/api/schema/", "application/json;q=1.0, application/vnd.oai.openapi;q=0.1", "", 200, yamlCT},
		{"parameters rank higher", "GET", "/api/schema/", "application/vnd.oai.openapi, application/json; indent=2", "", 200, "application/json"},
		{"format and Accept disagree", "GET", "/api/schema/?format=json", "application/yaml", "", 406, "application/json"},
		{"unknown format", "GET", "/api/schema/?format=xml", "", "", 404, "application/json"},
		{"unacceptable", "GET", "/api/schema/", "text/html", "", 406, "application/json"},
		{"superuser", "GET", "/api/schema/?format=json", "", adminAuth, 200, jsonCT},
		{"bad token", "GET", "/api/schema/", "", "Token wrong", 401, "application/json"},
		{"head", "HEAD", "/api/schema/", "", "", 200, yamlCT},
		{"options", "OPTIONS", "/api/schema/", "", "", 200, "application/json"},
		{"post", "POST", "/api/schema/", "", "", 405, "application/json"},
		{"delete", "DELETE", "/api/schema", "", "", 405, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tc.method, tc.target, tc.accept, tc.auth)
			if r.status != tc.status || r.header.Get("Content-Type") != tc.ctype {
				t.Fatalf("%d %s, want %d %s; body %s", r.status, r.header.Get("Content-Type"), tc.status, tc.ctype, clipBody(r.body))
			}
			if got := r.header.Get("Allow"); got != "GET, HEAD, OPTIONS" {
				t.Errorf("Allow %q", got)
			}
			if got := r.header.Get("Vary"); got != "Accept" {
				t.Errorf("Vary %q", got)
			}
			switch {
			case tc.status != 200 || tc.method == "HEAD":
				if tc.method == "HEAD" && len(r.body) != 0 {
					t.Errorf("HEAD answered a body of %d bytes", len(r.body))
				}
			case tc.ctype == yamlCT || strings.HasPrefix(tc.ctype, "application/yaml"):
				if !bytes.Equal(r.body, src) {
					t.Errorf("the YAML answer (%d bytes) is not the document as written (%d bytes)", len(r.body), len(src))
				}
			case tc.method == "GET":
				sameDocument(t, r.body, src)
			}
		})
	}
}

// sameDocument checks that a JSON answer holds the YAML source's content,
// with the source's key order.
func sameDocument(t *testing.T, got, src []byte) {
	t.Helper()
	var fromJSON, fromYAML any
	if err := json.Unmarshal(got, &fromJSON); err != nil {
		t.Fatalf("the JSON answer does not parse: %v", err)
	}
	// The converter is what is under test, so the source is read here by
	// a YAML decoder and compared as canonical JSON.
	if err := yaml.Unmarshal(src, &fromYAML); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("the JSON answer differs from the YAML source")
	}
	if !bytes.HasPrefix(got, []byte(`{"openapi":"3.1.0","info":{"title":"prefsd"`)) {
		t.Errorf("the JSON answer does not keep the source's key order: %s", clipBody(got))
	}
}
