package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prefsd/prefsd/client"
	"github.com/prefsd/prefsd/cluster"
)

// snapshotVerbs returns the verbs of `prefsd snapshot save|restore|inspect`.
func snapshotVerbs() []verb {
	return []verb{
		{"save", "download a backup of the cluster's state to FILE", runSnapshotSave},
		{"restore", "replace the whole cluster's state with the backup in FILE", runSnapshotRestore},
		{"inspect", "check a backup file and show its header", runSnapshotInspect},
	}
}

// savedBackup is what `snapshot save --json` prints.
type savedBackup struct {
	File   string               `json:"file"`
	Header cluster.BackupHeader `json:"header"`
	Bytes  int64                `json:"bytes"`
}

func runSnapshotSave(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("snapshot save", "FILE",
		"save downloads a consistent backup of the cluster's state from the node\nat --addr and writes it to FILE (\"-\" for standard output), checking its\nsize and SHA-256 before it keeps it. Any node serves it, from its own\nmemory, after a linearizable read unless --consistency says otherwise.\nProgress goes to standard error.",
		0, getenv, stdout, stderr)
	level := c.fs.String("consistency", "linearizable", "linearizable, leader or stale")
	quiet := c.fs.Bool("quiet", false, "show no progress")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	file := pos[0]
	if file == "-" && c.json {
		return usagef("snapshot save: --json needs standard output for itself; give a FILE")
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()

	var out io.Writer = stdout
	var tmp *os.File
	if file != "-" {
		// Write next to FILE and rename, so that FILE is either the old
		// file or a complete, checked backup.
		tmp, err = os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.part")
		if err != nil {
			return fmt.Errorf("snapshot save: %w", err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		out = tmp
	}
	dl, err := cl.Snapshot(ctx, *level)
	if err != nil {
		return err
	}
	defer dl.Body.Close()
	body := io.Reader(dl.Body)
	var p *progress
	if !*quiet {
		p = newProgress(stderr, "download", dl.Size, time.Now)
		body = p.reader(body)
	}
	cw := &countWriter{w: out}
	hdr, err := cluster.VerifyBackup(io.TeeReader(body, cw))
	if p != nil {
		p.finish()
	}
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("snapshot save: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("snapshot save: %w", err)
		}
		if err := os.Rename(tmp.Name(), file); err != nil {
			return fmt.Errorf("snapshot save: %w", err)
		}
		tmp = nil
	}
	res := savedBackup{File: file, Header: hdr, Bytes: cw.n}
	if file == "-" {
		fmt.Fprintf(stderr, "saved a backup of index %d from %s (%s)\n", hdr.Index, hdr.NodeID, formatBytes(cw.n))
		return nil
	}
	return c.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "saved a backup of index %d (term %d) from %s to %s\n", hdr.Index, hdr.Term, hdr.NodeID, file)
		fmt.Fprintf(w, "size\t%s (%d bytes)\n", formatBytes(cw.n), cw.n)
		fmt.Fprintf(w, "sha256\t%s\n", hdr.SHA256)
	})
}

func runSnapshotRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("snapshot restore", "FILE",
		"restore replaces the whole cluster's state with the backup in FILE: every\nuser, token, preference, setting, quota and the catalogue. It checks the\nfile first, then uploads it to the node at --addr, which passes it on to\nthe leader; the leader installs it and sends it to every follower. Writes\nmade since the backup are lost. The members stay as they are.",
		0, getenv, stdout, stderr)
	quiet := c.fs.Bool("quiet", false, "show no progress")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	file := pos[0]
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	if _, err := cluster.VerifyBackup(f); err != nil {
		return fmt.Errorf("snapshot restore %s: %w", file, err)
	}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	var p *progress
	open := func() (io.Reader, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if *quiet {
			return f, nil
		}
		p = newProgress(stderr, "upload", fi.Size(), time.Now)
		return p.reader(f), nil
	}
	res, err := cl.Restore(ctx, open, fi.Size())
	if p != nil {
		p.finish()
	}
	if err != nil {
		if errors.Is(err, client.ErrUnavailable) {
			return fmt.Errorf("%w (nothing was restored; try again)", err)
		}
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "prefsd: warning:", w)
	}
	return c.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "restored the backup of index %d taken from %s at %s\n", res.Backup.Index, res.Backup.NodeID, res.Backup.Created)
		fmt.Fprintf(w, "leader\t%s\n", res.NodeID)
		fmt.Fprintf(w, "state index\t%d\n", res.Index)
		fmt.Fprintf(w, "term\t%d\n", res.Term)
	})
}

func runSnapshotInspect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("snapshot inspect", "FILE",
		"inspect reads the backup in FILE, checks its size and SHA-256, and shows\nits header. It needs no node.",
		0, getenv, stdout, stderr)
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("snapshot inspect: %w", err)
	}
	defer f.Close()
	hdr, err := cluster.VerifyBackup(f)
	if err != nil {
		return fmt.Errorf("snapshot inspect %s: %w", pos[0], err)
	}
	return c.print(hdr, func(w io.Writer) {
		fmt.Fprintf(w, "format\t%s version %d\n", hdr.Format, hdr.Version)
		fmt.Fprintf(w, "taken from\t%s\n", hdr.NodeID)
		fmt.Fprintf(w, "created\t%s\n", hdr.Created)
		fmt.Fprintf(w, "index\t%d\n", hdr.Index)
		fmt.Fprintf(w, "term\t%d\n", hdr.Term)
		fmt.Fprintf(w, "state size\t%s (%d bytes)\n", formatBytes(hdr.Size), hdr.Size)
		fmt.Fprintf(w, "sha256\t%s\n", hdr.SHA256)
		fmt.Fprintln(w, "checked\tsize and sha256 match")
	})
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
