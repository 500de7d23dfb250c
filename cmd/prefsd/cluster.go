package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prefsd/prefsd/client"
)

// opTimeout is --timeout's default for the subcommands that make one call.
const opTimeout = 30 * time.Second

// runStatus runs `prefsd status`: the answering node's view of the cluster.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("status", "", "status shows how the node at --addr sees the cluster: its raft state,\nthe leader, the term and indexes, and the members.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 0, 0, func(ctx context.Context, cl *client.Client, _ []string) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		return c.print(st, func(w io.Writer) {
			leader := st.LeaderID
			if st.LeaderAddr != "" {
				leader += " at " + st.LeaderAddr
			}
			if leader == "" {
				leader = "(none known)"
			}
			ids := make([]string, len(st.Members))
			for i, m := range st.Members {
				ids[i] = m.NodeID
			}
			fmt.Fprintf(w, "node\t%s\n", st.NodeID)
			fmt.Fprintf(w, "state\t%s\n", st.State)
			fmt.Fprintf(w, "leader\t%s\n", leader)
			fmt.Fprintf(w, "term\t%d\n", st.Term)
			fmt.Fprintf(w, "commit index\t%d\n", st.CommitIndex)
			fmt.Fprintf(w, "applied index\t%d\n", st.AppliedIndex)
			fmt.Fprintf(w, "state index\t%d\n", st.FSMIndex)
			if st.LastContact != "" {
				fmt.Fprintf(w, "last contact\t%s ago\n", st.LastContact)
			}
			fmt.Fprintf(w, "members\t%d (%s)\n", len(st.Members), strings.Join(ids, ", "))
		})
	})
}

// runMembers runs `prefsd members`: the raft configuration with each
// member's addresses.
func runMembers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("members", "", "members lists the cluster's members: id, raft and API addresses, vote\nand which one leads.", opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 0, 0, func(ctx context.Context, cl *client.Client, _ []string) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		return c.print(st.Members, func(w io.Writer) {
			fmt.Fprintln(w, "NODE\tRAFT ADDRESS\tAPI ADDRESS\tSUFFRAGE\tLEADER")
			for _, m := range st.Members {
				leader := ""
				if m.Leader {
					leader = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.NodeID, m.RaftAddr, orDash(m.APIAddr), m.Suffrage, leader)
			}
		})
	})
}

// runJoin runs `prefsd join`: ask the cluster to add a node.
func runJoin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("join", "NODE_ID RAFT_ADDR API_ADDR",
		"join asks the cluster at --addr to add the node NODE_ID, reachable at\nRAFT_ADDR (HOST:PORT) for raft and at API_ADDR (HOST:PORT) for HTTP, as a\nvoter; a follower passes the request to the leader. Joining again with\nthe same addresses changes nothing; new addresses replace the old ones.\nA new node joins by itself with --join; use this to add back a node that\nwas removed and kept its data.",
		opTimeout, getenv, stdout, stderr)
	pos, err := c.parse(args, 3, 3)
	if err != nil {
		return err
	}
	req := client.JoinRequest{NodeID: pos[0], RaftAddr: pos[1], APIAddr: pos[2]}
	cl, ctx, cancel, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := cl.Join(ctx, req); err != nil {
		return err
	}
	return c.print(req, func(w io.Writer) {
		fmt.Fprintf(w, "%s is a member (raft %s, API %s)\n", req.NodeID, req.RaftAddr, req.APIAddr)
	})
}

// runRemove runs `prefsd remove NODE`.
func runRemove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("remove", "NODE_ID",
		"remove takes NODE_ID out of the cluster's configuration and member\ndirectory. A removed node stops taking part; to add it back, join it.",
		opTimeout, getenv, stdout, stderr)
	return c.run(ctx, args, 1, 1, func(ctx context.Context, cl *client.Client, pos []string) error {
		if err := cl.Remove(ctx, pos[0]); err != nil {
			return err
		}
		return c.print(map[string]string{"removed": pos[0]}, func(w io.Writer) {
			fmt.Fprintf(w, "removed %s\n", pos[0])
		})
	})
}

// runTransferLeadership runs `prefsd transfer-leadership [--to NODE]`.
func runTransferLeadership(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newOp("transfer-leadership", "",
		"transfer-leadership asks the leader to hand leadership to the voter\nnamed by --to, or to the most up-to-date other voter, and waits until a\nnew leader is elected. Use it before taking the leader down.",
		opTimeout, getenv, stdout, stderr)
	to := c.fs.String("to", "", "the node id to hand leadership to (default: raft picks)")
	return c.run(ctx, args, 0, 0, func(ctx context.Context, cl *client.Client, _ []string) error {
		res, err := cl.TransferLeadership(ctx, *to)
		if err != nil {
			return err
		}
		return c.print(res, func(w io.Writer) {
			switch {
			case res.Previous == res.Leader:
				fmt.Fprintf(w, "%s leads already\n", res.Leader)
			case res.Leader == "":
				fmt.Fprintf(w, "%s handed leadership over; no new leader known yet\n", res.Previous)
			default:
				fmt.Fprintf(w, "leadership moved from %s to %s\n", res.Previous, res.Leader)
			}
		})
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
