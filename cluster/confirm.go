package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/hashicorp/raft"
)

// A leader confirms that it still leads before it answers a linearizable
// read. The cheap way asks every other voter for its current term, after the
// read arrived: if a quorum, this leader included, is still in the leader's
// term, no leader of a later term can have been elected before the read
// arrived, because its election needed a vote from a quorum, which shares a
// member with the confirming quorum, and that member's term would have moved
// past the leader's when it voted. Writes acknowledged before the read were
// therefore acknowledged by this leader, or by an earlier one whose entries
// this leader applied before it became ready, and the applied index taken
// after the read arrived covers them all. No disk write is involved.
//
// A node that cannot answer (an older version, an unknown address, a
// partition) gives no vote; if the quorum is not reached that way, the
// leader falls back to committing a barrier entry, which is slower but
// needs nothing from the peers but raft.

// termAsker asks the voter with the given raft id for its current term. It
// bounds the question itself: confirmTerm may return before the answer
// comes and never cancels a question.
type termAsker func(id raft.ServerID) (uint64, error)

// errNoTermQuorum means too few voters confirmed the leader's term.
var errNoTermQuorum = errors.New("cluster: no quorum confirmed the term")

// confirmTerm asks the voters of cfg other than self, concurrently, for their
// term and returns nil as soon as enough of them report term that, with self,
// they are a quorum of the voters. It returns errNoTermQuorum once that can
// no longer happen, and ctx's error if ctx ends first.
//
// Questions still out when it returns go on in goroutines that questions
// tracks, until answered or until the asker's own bound: cancelling a call
// to a peer closes its connection, and under load the next confirmation
// would then dial a new one, every time, for the voter that was not needed.
func confirmTerm(ctx context.Context, questions *sync.WaitGroup, cfg raft.Configuration, self raft.ServerID, term uint64, ask termAsker) error {
	var voters int
	var others []raft.ServerID
	selfVotes := false
	for _, s := range cfg.Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == self {
			selfVotes = true
		} else {
			others = append(others, s.ID)
		}
	}
	if !selfVotes {
		return fmt.Errorf("%w: this node is not a voter", errNoTermQuorum)
	}
	need := voters / 2 // a quorum, voters/2 + 1, less this node's own vote
	if need == 0 {
		return nil
	}

	// Buffered for every answer, so that one arriving after the return
	// never blocks its goroutine.
	answers := make(chan bool, len(others))
	for _, id := range others {
		questions.Go(func() {
			t, err := ask(id)
			answers <- err == nil && t == term
		})
	}
	yes, no := 0, 0
	for range others {
		select {
		case ok := <-answers:
			if ok {
				yes++
			} else {
				no++
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if yes >= need {
			return nil
		}
		if len(others)-no < need {
			break
		}
	}
	return fmt.Errorf("%w: %d of %d other voters confirmed term %d, %d needed", errNoTermQuorum, yes, len(others), term, need)
}

// askTerm is the termAsker of a running node: a call to the voter's term
// endpoint at the API address in the member directory.
func (n *Node) askTerm(ctx context.Context, id raft.ServerID) (uint64, error) {
	m, ok := n.fsm.State().Member(string(id))
	if !ok || m.APIAddr == "" {
		return 0, fmt.Errorf("%w: no API address for %s", ErrNotFound, id)
	}
	var resp TermResponse
	if err := n.call(ctx, http.MethodGet, m.APIAddr, PathTerm, "", nil, &resp); err != nil {
		return 0, err
	}
	return resp.Term, nil
}

// Term answers another node's question about this node's raft term.
func (n *Node) Term() TermResponse {
	return TermResponse{Term: n.raft.CurrentTerm()}
}
