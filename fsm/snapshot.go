package fsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/raft"
)

// The snapshot format is a stream of JSON values, one per line: a header,
// then one record per user, token, preference and member, each table in key
// order. The same state always yields the same bytes, so a digest of a
// snapshot is a digest of the state.
const (
	snapshotFormat  = "prefsd-snapshot"
	snapshotVersion = 1
)

type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Meta    meta   `json:"meta"`
}

// record is one line of a snapshot after the header; exactly one field is set.
type record struct {
	User   *User       `json:"user,omitempty"`
	Token  *Token      `json:"token,omitempty"`
	Pref   *prefEntry  `json:"pref,omitempty"`
	Member *Member     `json:"member,omitempty"`
	Def    *SettingDef `json:"def,omitempty"`
	Value  *valueEntry `json:"value,omitempty"`
	// Session records come last, after the settings values.
	Session *Session `json:"session,omitempty"`
}

type valueEntry struct {
	UserID   uint64   `json:"u,omitempty"`
	Registry Registry `json:"r"`
	Scope    Scope    `json:"s"`
	Key      string   `json:"k"`
	Value    string   `json:"v"`
}

type prefEntry struct {
	UserID uint64 `json:"u"`
	Key    string `json:"k"`
	Value  string `json:"v"`
}

// ErrBadSnapshot is returned by ReadSnapshot for a stream that is not a
// snapshot this version understands.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

type snapshot struct{ state *State }

// Persist writes the snapshot to sink, closing it on success and cancelling
// it on error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.state.Encode(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the state is garbage once unreferenced.
func (s *snapshot) Release() {}

// Encode streams the state in the snapshot format.
func (s *State) Encode(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, Meta: s.meta}); err != nil {
		return err
	}
	var err error
	emit := func(r record) bool {
		err = enc.Encode(r)
		return err != nil
	}
	s.users.walk(func(_ uint64, u *User) bool { return emit(record{User: u}) })
	if err != nil {
		return err
	}
	s.tokens.Root().Walk(func(_ []byte, t *Token) bool { return emit(record{Token: t}) })
	if err != nil {
		return err
	}
	s.prefs.walk(func(id uint64, b prefBlock) bool {
		for i := range b.len() {
			if emit(record{Pref: &prefEntry{UserID: id, Key: b.key(i), Value: b.value(i)}}) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	s.members.Root().Walk(func(_ []byte, m *Member) bool { return emit(record{Member: m}) })
	if err != nil {
		return err
	}
	s.catalog.Root().Walk(func(_ []byte, d *SettingDef) bool { return emit(record{Def: d}) })
	if err != nil {
		return err
	}
	s.settings.Root().Walk(func(k []byte, v string) bool {
		id := binary.BigEndian.Uint64(k[:8])
		r, rest, _ := strings.Cut(string(k[8:]), "\x00")
		sc, key, _ := strings.Cut(rest, "\x00")
		return emit(record{Value: &valueEntry{UserID: id, Registry: Registry(r), Scope: Scope(sc), Key: key, Value: v}})
	})
	if err != nil {
		return err
	}
	s.sessions.Root().Walk(func(_ []byte, ss *Session) bool { return emit(record{Session: ss}) })
	if err != nil {
		return err
	}
	return bw.Flush()
}

// ReadSnapshot builds a state from a stream written by Encode. It checks
// that every token and preference belongs to a user it has read.
func ReadSnapshot(r io.Reader) (*State, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	if h.Format != snapshotFormat || h.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: format %q version %d", ErrBadSnapshot, h.Format, h.Version)
	}
	t := begin(newState())
	t.meta = h.Meta
	prefs := prefLoader{prefs: &t.prefs}
	for {
		var rec record
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		switch {
		case rec.User != nil:
			t.putUser(rec.User)
			t.names.put(foldName(rec.User.Username), rec.User.ID)
		case rec.Token != nil:
			if _, ok := t.user(rec.Token.UserID); !ok {
				return nil, fmt.Errorf("%w: token %d of unknown user %d", ErrBadSnapshot, rec.Token.ID, rec.Token.UserID)
			}
			t.tokens.put(rec.Token.Digest, rec.Token)
			t.userTokens.put(pairKey(rec.Token.UserID, rec.Token.ID), rec.Token.Digest)
		case rec.Pref != nil:
			if _, ok := t.user(rec.Pref.UserID); !ok {
				return nil, fmt.Errorf("%w: preference of unknown user %d", ErrBadSnapshot, rec.Pref.UserID)
			}
			if !prefs.add(rec.Pref.UserID, rec.Pref.Key, rec.Pref.Value) {
				return nil, fmt.Errorf("%w: preferences of user %d over %d bytes", ErrBadSnapshot, rec.Pref.UserID, maxPrefBlockBytes)
			}
		case rec.Member != nil:
			t.members.put([]byte(rec.Member.NodeID), rec.Member)
		case rec.Def != nil:
			t.catalog.put(catalogKey(rec.Def.Registry, rec.Def.Scope, rec.Def.Key), rec.Def)
		case rec.Value != nil:
			if _, ok := t.user(rec.Value.UserID); rec.Value.UserID != 0 && !ok {
				return nil, fmt.Errorf("%w: setting of unknown user %d", ErrBadSnapshot, rec.Value.UserID)
			}
			t.settings.put(settingKey(rec.Value.UserID, rec.Value.Registry, rec.Value.Scope, rec.Value.Key), rec.Value.Value)
		case rec.Session != nil:
			if _, ok := t.user(rec.Session.UserID); !ok || len(rec.Session.Digest) != sessionDigestLen {
				return nil, fmt.Errorf("%w: session of unknown user %d", ErrBadSnapshot, rec.Session.UserID)
			}
			t.sessions.put(rec.Session.Digest, rec.Session)
			t.userSessions.put(userSessionKey(rec.Session.UserID, rec.Session.Digest), rec.Session.Digest)
		default:
			return nil, fmt.Errorf("%w: empty record", ErrBadSnapshot)
		}
	}
	prefs.flush()
	return t.commit(), nil
}

// Digest returns the hex SHA-256 of the state's snapshot encoding. Replicas
// that applied the same log hold the same state and so the same digest. It
// is computed on the first call and remembered.
func (s *State) Digest() (string, error) {
	s.digestOnce.Do(func() {
		h := sha256.New()
		if err := s.Encode(h); err != nil {
			s.digestErr = err
			return
		}
		s.digest = hex.EncodeToString(h.Sum(nil))
	})
	return s.digest, s.digestErr
}
