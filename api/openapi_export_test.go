package api

// OpenAPIYAML returns the OpenAPI document as written (api/openapi/openapi.yaml).
func OpenAPIYAML() []byte { return openapiYAML }

// YAMLToJSON exposes the conversion /api/schema/?format=json serves.
func YAMLToJSON(src []byte) ([]byte, error) { return yamlToJSON(src) }
