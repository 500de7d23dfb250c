package api

// PyStrOfJSON exposes parsePy and pyStr to the external tests (the fuzz
// targets live in package api_test, which can start real nodes).
func PyStrOfJSON(data []byte) (string, error) {
	v, err := parsePy(data)
	if err != nil {
		return "", err
	}
	return pyStr(v), nil
}
