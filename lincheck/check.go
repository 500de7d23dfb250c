package lincheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// ResultsDirEnv names a directory where Check keeps visualisations of
// failed checks; without it they go to the test's temporary directory.
const ResultsDirEnv = "PREFS_RESULTS_DIR"

// CheckPath checks ops against Model. Unless the result is Ok, it writes
// an HTML visualisation to htmlPath (if not empty). A timeout of 0 means
// none; an Unknown result (the checker timed out) is not a pass.
func CheckPath(ops []porcupine.Operation, timeout time.Duration, htmlPath string, annotations ...porcupine.Annotation) (porcupine.CheckResult, error) {
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	if res == porcupine.Ok || htmlPath == "" {
		return res, nil
	}
	if len(annotations) > 0 {
		info.AddAnnotations(annotations)
	}
	if err := porcupine.VisualizePath(Model, info, htmlPath); err != nil {
		return res, fmt.Errorf("lincheck: write visualisation: %w", err)
	}
	return res, nil
}

// Check checks ops against Model and returns the result. Unless it is Ok,
// it writes history.html under $PREFS_RESULTS_DIR/<test name> or, without
// that, t.TempDir(), and logs its path. It does not fail t; the caller
// decides (and should treat Unknown as a failure).
func Check(t testing.TB, ops []porcupine.Operation, timeout time.Duration, annotations ...porcupine.Annotation) porcupine.CheckResult {
	t.Helper()
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	t.Logf("lincheck: %d operations checked in %v: %s", len(ops), time.Since(start).Round(time.Millisecond), res)
	if res == porcupine.Ok {
		return res
	}
	dir := t.TempDir()
	if d := os.Getenv(ResultsDirEnv); d != "" {
		dir = filepath.Join(d, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Errorf("lincheck: %v", err)
			return res
		}
	}
	path := filepath.Join(dir, "history.html")
	if len(annotations) > 0 {
		info.AddAnnotations(annotations)
	}
	if err := porcupine.VisualizePath(Model, info, path); err != nil {
		t.Errorf("lincheck: write visualisation: %v", err)
		return res
	}
	t.Logf("lincheck: %s history; visualisation written to %s", res, path)
	return res
}
