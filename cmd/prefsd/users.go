package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/prefsd/prefsd/client"
)

// userVerbs returns the verbs of `prefsd user add|list|delete`.
func userVerbs() []verb {
	return []verb{
		{"add", "create a user", runUserAdd},
		{"list", "list the users", runUserList},
		{"delete", "delete a user with its preferences and tokens", runUserDelete},
	}
}

func runUserAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("user add", "USERNAME",
		"add creates the user USERNAME. A password, read from the first line of\n--password-file (\"-\" for standard input), lets the user sign in with\nBasic authentication or a session; tokens come from `prefsd token create`.",
		opTimeout, getenv, stdout, stderr)
	email := c.fs.String("email", "", "the user's email address")
	staff := c.fs.Bool("staff", false, "make the user staff")
	superuser := c.fs.Bool("superuser", false, "make the user a superuser")
	passwordFile := c.fs.String("password-file", "", `read the password from the first line of this file ("-": standard input)`)
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	u := client.NewUser{Username: pos[0], Email: *email, IsStaff: *staff, IsSuperuser: *superuser}
	if *passwordFile != "" {
		if u.Password, err = readPassword(*passwordFile); err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	created, err := cl.CreateUser(ctx, u)
	if err != nil {
		return err
	}
	return c.print(created, func(w io.Writer) {
		fmt.Fprintf(w, "created user %s (id %d)\n", created.Username, created.ID)
	})
}

// readPassword reads the first line of a file, or of standard input for "-".
func readPassword(name string) (string, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

func runUserList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("user list", "", "list shows every user with its roles and what its preferences take up.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 0, 0, func(ctx context.Context, cl *client.Client, _ []string) error {
		users, err := cl.Users(ctx)
		if err != nil {
			return err
		}
		return c.print(users, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tUSERNAME\tEMAIL\tROLES\tPREFERENCES\tBYTES\tJOINED")
			for _, u := range users {
				var roles []string
				if u.IsSuperuser {
					roles = append(roles, "superuser")
				}
				if u.IsStaff {
					roles = append(roles, "staff")
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", u.ID, u.Username, orDash(u.Email),
					orDash(strings.Join(roles, ",")), u.Usage.Preferences, u.Usage.Bytes, u.DateJoined)
			}
		})
	})
}

func runUserDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("user delete", "USERNAME", "delete deletes USERNAME with every preference, setting, token and session\nof theirs.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 1, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		if err := cl.DeleteUser(ctx, pos[0]); err != nil {
			return err
		}
		return c.print(map[string]string{"deleted": pos[0]}, func(w io.Writer) {
			fmt.Fprintf(w, "deleted user %s\n", pos[0])
		})
	})
}

// tokenVerbs returns the verbs of `prefsd token create|list|delete`.
func tokenVerbs() []verb {
	return []verb{
		{"create", "create an API token for a user", runTokenCreate},
		{"list", "list a user's tokens", runTokenList},
		{"delete", "revoke a user's token", runTokenDelete},
	}
}

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("token create", "USERNAME",
		"create makes an API token for USERNAME and prints it. The secret is shown\nonly now: the cluster keeps its SHA-256 digest alone.",
		opTimeout, getenv, stdout, stderr)
	name := c.fs.String("name", "prefsd-cli", "a name for the token, 1 to 100 characters")
	return c.run(ctx, args, 1, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		tok, err := cl.CreateToken(ctx, pos[0], *name)
		if err != nil {
			return err
		}
		return c.print(tok, func(w io.Writer) {
			fmt.Fprintf(w, "id\t%d\n", tok.ID)
			fmt.Fprintf(w, "name\t%s\n", tok.Name)
			fmt.Fprintf(w, "user\t%s\n", pos[0])
			fmt.Fprintf(w, "token\t%s\n", tok.Secret)
			fmt.Fprintln(w, "\t(shown only now; keep it safe)")
		})
	})
}

func runTokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("token list", "USERNAME", "list shows USERNAME's tokens, without their secrets.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 1, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		toks, err := cl.Tokens(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.print(toks, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tCREATED")
			for _, t := range toks {
				fmt.Fprintf(w, "%d\t%s\t%s\n", t.ID, t.Name, t.Created)
			}
		})
	})
}

func runTokenDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("token delete", "USERNAME TOKEN_ID", "delete revokes USERNAME's token TOKEN_ID (see `prefsd token list`).", opTimeout, getenv, stdout, stderr)
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(pos[1], 10, 64)
	if err != nil {
		return usagef("token delete: TOKEN_ID %q is not a number", pos[1])
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := cl.DeleteToken(ctx, pos[0], id); err != nil {
		return err
	}
	return c.print(map[string]any{"user": pos[0], "deleted": id}, func(w io.Writer) {
		fmt.Fprintf(w, "revoked token %d of %s\n", id, pos[0])
	})
}

// quotaVerbs returns the verbs of `prefsd quota show|set|reset`.
func quotaVerbs() []verb {
	return []verb{
		{"show", "show the default quota, or the one in force for a user", runQuotaShow},
		{"set", "change the default quota, or override it for a user", runQuotaSet},
		{"reset", "drop a user's overrides", runQuotaReset},
	}
}

// quotaFlag is one of `quota set`'s limits, applied only when given.
type quotaFlag struct {
	flag, help string
	field      func(*client.QuotaPatch) **int64
}

// quotaFlags returns `quota set`'s limits.
func quotaFlags() []quotaFlag {
	return []quotaFlag{
		{"count", "most preferences a user may hold", func(p *client.QuotaPatch) **int64 { return &p.MaxPreferences }},
		{"bytes", "most bytes of keys and values a user may hold (a number, or with KiB, MiB or GiB)", func(p *client.QuotaPatch) **int64 { return &p.MaxTotalBytes }},
		{"value-length", "longest value, in characters", func(p *client.QuotaPatch) **int64 { return &p.MaxValueLength }},
		{"key-length", "longest key, in characters", func(p *client.QuotaPatch) **int64 { return &p.MaxKeyLength }},
	}
}

func runQuotaShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("quota show", "[USERNAME]", "show prints the default quota, or the quota in force for USERNAME.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 0, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		var (
			q   client.Quota
			err error
		)
		if len(pos) == 0 {
			q, err = cl.DefaultQuota(ctx)
		} else {
			q, err = cl.UserQuota(ctx, pos[0])
		}
		if err != nil {
			return err
		}
		return c.printQuota(q)
	})
}

func runQuotaSet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("quota set", "[USERNAME] --count N --bytes N ...",
		"set changes the default quota, or, given USERNAME, overrides it for that\nuser. Only the limits given change. Limits refuse growth only: a user over\na lowered limit can still overwrite and delete.",
		opTimeout, getenv, stdout, stderr)
	limits := quotaFlags()
	values := make([]string, len(limits))
	for i, f := range limits {
		c.fs.StringVar(&values[i], f.flag, "", f.help)
	}
	pos, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var patch client.QuotaPatch
	for i, f := range limits {
		if !c.given(f.flag) {
			continue
		}
		n, err := parseSize(values[i])
		if err != nil {
			return usagef("quota set: --%s: %v", f.flag, err)
		}
		*f.field(&patch) = &n
	}
	if patch == (client.QuotaPatch{}) {
		return usagef("quota set: give at least one of --count, --bytes, --value-length, --key-length")
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var q client.Quota
	if len(pos) == 0 {
		q, err = cl.SetDefaultQuota(ctx, patch)
	} else {
		q, err = cl.SetUserQuota(ctx, pos[0], patch)
	}
	if err != nil {
		return err
	}
	return c.printQuota(q)
}

func runQuotaReset(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("quota reset", "USERNAME", "reset drops USERNAME's overrides: the default quota applies again.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 1, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		q, err := cl.ResetUserQuota(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.printQuota(q)
	})
}

func (c *opCommand) printQuota(q client.Quota) error {
	return c.print(q, func(w io.Writer) {
		fmt.Fprintln(w, "LIMIT\tVALUE")
		fmt.Fprintf(w, "preferences (--count)\t%d\n", q.MaxPreferences)
		fmt.Fprintf(w, "total bytes (--bytes)\t%d (%s)\n", q.MaxTotalBytes, formatBytes(q.MaxTotalBytes))
		fmt.Fprintf(w, "value length (--value-length)\t%d\n", q.MaxValueLength)
		fmt.Fprintf(w, "key length (--key-length)\t%d\n", q.MaxKeyLength)
	})
}

// parseSize parses a whole number of at least zero, optionally followed by
// KiB, MiB or GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number of at least 0", s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}
