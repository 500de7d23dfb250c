package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/config/catalog"
	"github.com/prefsd/prefsd/fsm"
)

// catalogUsage describes the catalog subcommand.
const catalogUsage = `usage:
  prefsd catalog apply [--replace] [--addr HOST:PORT] [--token TOKEN] FILE.yaml
  prefsd catalog show  [--addr HOST:PORT] [--token TOKEN]

apply sends the setting definitions in FILE (YAML or JSON, "settings: [...]")
to the cluster: they are added, or replace definitions with the same key;
with --replace, every definition not in FILE is removed (stored values are
kept and shown as obsolete). show prints the catalogue in force as JSON.
--addr and --token default to PREFSD_ADDR and PREFSD_TOKEN.`

// runCatalog runs `prefsd catalog ...` against a running node.
func runCatalog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "apply" && args[0] != "show") {
		fmt.Fprintln(stderr, catalogUsage)
		return errors.New("catalog: expected apply or show")
	}
	verb := args[0]
	fs := flag.NewFlagSet("prefsd catalog "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, catalogUsage) }
	addr := fs.String("addr", envOr(getenv, "PREFSD_ADDR", config.Default().HTTPAddr), "HTTP address of any node")
	token := fs.String("token", getenv("PREFSD_TOKEN"), "a superuser's API token")
	replace := fs.Bool("replace", false, "remove every definition not in the file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	client := &adminClient{base: "http://" + strings.TrimPrefix(*addr, "http://"), token: *token}

	switch verb {
	case "show":
		if fs.NArg() != 0 {
			return fmt.Errorf("catalog show: unexpected argument %q", fs.Arg(0))
		}
		body, err := client.do(ctx, http.MethodGet, "/api/admin/catalog", nil)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			return fmt.Errorf("catalog show: %w", err)
		}
		out.WriteByte('\n')
		_, err = stdout.Write(out.Bytes())
		return err
	default: // apply
		if fs.NArg() != 1 {
			return errors.New("catalog apply: expected one FILE")
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("catalog apply: %w", err)
		}
		defs, err := catalog.Load(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("catalog apply %s: %w", fs.Arg(0), err)
		}
		req, err := json.Marshal(struct {
			Replace  bool             `json:"replace"`
			Settings []fsm.SettingDef `json:"settings"`
		}{*replace, defs})
		if err != nil {
			return err
		}
		body, err := client.do(ctx, http.MethodPut, "/api/admin/catalog", req)
		if err != nil {
			return err
		}
		var res struct {
			Version  uint64            `json:"version"`
			Settings []json.RawMessage `json:"settings"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			return fmt.Errorf("catalog apply: %w", err)
		}
		fmt.Fprintf(stdout, "applied %d definitions from %s; the catalogue (version %d) now holds %d\n",
			len(defs), fs.Arg(0), res.Version, len(res.Settings))
		return nil
	}
}

// adminClient calls a node's admin API.
type adminClient struct {
	base, token string
}

func (c *adminClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
