package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func voters(ids ...string) raft.Configuration {
	var c raft.Configuration
	for _, id := range ids {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id)})
	}
	return c
}

func TestConfirmTerm(t *testing.T) {
	const term = 7
	withNonvoter := voters("a", "b", "c")
	withNonvoter.Servers = append(withNonvoter.Servers, raft.Server{Suffrage: raft.Nonvoter, ID: "d"})
	tests := []struct {
		name    string
		cfg     raft.Configuration
		self    string
		answers map[string]uint64 // absent: the question fails
		ok      bool
	}{
		{"alone", voters("a"), "a", nil, true},
		{"three, all in term", voters("a", "b", "c"), "a", map[string]uint64{"b": term, "c": term}, true},
		{"three, one in term", voters("a", "b", "c"), "a", map[string]uint64{"b": term}, true},
		{"three, one in term, one later", voters("a", "b", "c"), "a", map[string]uint64{"b": term + 1, "c": term}, true},
		{"three, none answers", voters("a", "b", "c"), "a", nil, false},
		{"three, both later", voters("a", "b", "c"), "a", map[string]uint64{"b": term + 1, "c": term + 1}, false},
		{"three, earlier term is no vote", voters("a", "b", "c"), "a", map[string]uint64{"b": term - 1}, false},
		{"two need both", voters("a", "b"), "a", map[string]uint64{}, false},
		{"two", voters("a", "b"), "a", map[string]uint64{"b": term}, true},
		{"five need two", voters("a", "b", "c", "d", "e"), "a", map[string]uint64{"b": term, "c": term + 1}, false},
		{"five, two in term", voters("a", "b", "c", "d", "e"), "a", map[string]uint64{"b": term, "e": term}, true},
		{"non-voter does not count", withNonvoter, "a", map[string]uint64{"d": term}, false},
		{"not a voter itself", voters("b", "c"), "a", map[string]uint64{"b": term, "c": term}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int32
			ask := func(id raft.ServerID) (uint64, error) {
				asked.Add(1)
				if id == raft.ServerID(tc.self) {
					t.Errorf("asked itself")
				}
				if t, ok := tc.answers[string(id)]; ok {
					return t, nil
				}
				return 0, fmt.Errorf("%s does not answer", id)
			}
			var questions sync.WaitGroup
			err := confirmTerm(context.Background(), &questions, tc.cfg, raft.ServerID(tc.self), term, ask)
			questions.Wait()
			if (err == nil) != tc.ok {
				t.Fatalf("confirmTerm = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errNoTermQuorum) {
				t.Errorf("error %v does not wrap errNoTermQuorum", err)
			}
		})
	}
}

// A voter that never answers does not hold up a quorum the others make,
// and is not waited for past the caller's deadline when they do not. Its
// question is not cancelled: it goes on until the asker's own bound.
func TestConfirmTermDoesNotWaitForSlowVoters(t *testing.T) {
	var questions sync.WaitGroup
	bound, endQuestions := context.WithCancel(context.Background())
	defer questions.Wait()
	defer endQuestions()
	var ended atomic.Int32
	hang := func(answer map[raft.ServerID]uint64) termAsker {
		return func(id raft.ServerID) (uint64, error) {
			if t, ok := answer[id]; ok {
				return t, nil
			}
			<-bound.Done()
			ended.Add(1)
			return 0, bound.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := confirmTerm(ctx, &questions, voters("a", "b", "c"), "a", 3, hang(map[raft.ServerID]uint64{"c": 3})); err != nil {
		t.Fatalf("quorum of a and c: %v", err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err := confirmTerm(short, &questions, voters("a", "b", "c"), "a", 3, hang(nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no answers: %v, want the deadline", err)
	}
	if n := ended.Load(); n != 0 {
		t.Errorf("%d questions ended before their own bound", n)
	}
	endQuestions()
	questions.Wait()
	if n := ended.Load(); n != 3 {
		t.Errorf("%d questions ended at their bound, want the 3 left unanswered", n)
	}
}
