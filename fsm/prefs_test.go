package fsm

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// prefsFixture creates alice (1) with theme=dark and lang=en (2 prefs, 15
// bytes) and bob (2) with theme=light.
func prefsFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.user("alice")
	h.user("bob")
	h.set(1, KV{"theme", "dark"}, KV{"lang", "en"})
	h.set(2, KV{"theme", "light"})
	return h
}

func checkUsage(t *testing.T, s *State, userID uint64, wantCount, wantBytes int64) {
	t.Helper()
	u, ok := s.UserByID(userID)
	if !ok {
		t.Fatalf("user %d not found", userID)
	}
	if u.PrefCount != wantCount || u.PrefBytes != wantBytes {
		t.Errorf("usage of user %d = (%d prefs, %d bytes), want (%d, %d)", userID, u.PrefCount, u.PrefBytes, wantCount, wantBytes)
	}
}

func checkPrefs(t *testing.T, s *State, userID uint64, want []KV) {
	t.Helper()
	got := s.Prefs(userID)
	if !slices.Equal(got, want) {
		t.Errorf("Prefs(%d) = %v, want %v", userID, got, want)
	}
	for _, kv := range want {
		if v, ok := s.Pref(userID, kv.Key); !ok || v != kv.Value {
			t.Errorf("Pref(%d, %q) = %q, %v; want %q", userID, kv.Key, v, ok, kv.Value)
		}
	}
}

func TestPatchPrefs(t *testing.T) {
	tests := []struct {
		name        string
		give        PatchPrefs
		want        []KV // alice's prefs afterwards, in key order
		wantDeleted int
		wantCount   int64
		wantBytes   int64
		wantErr     *Error
	}{
		{
			name:      "set new keys",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"font", "mono"}, {"size", "12"}}},
			want:      []KV{{"font", "mono"}, {"lang", "en"}, {"size", "12"}, {"theme", "dark"}},
			wantCount: 4,
			wantBytes: 15 + 8 + 6,
		},
		{
			name:      "overwrite",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"theme", "solarized-light"}}},
			want:      []KV{{"lang", "en"}, {"theme", "solarized-light"}},
			wantCount: 2,
			wantBytes: 15 - 4 + 15,
		},
		{
			name:      "overwrite with a shorter value",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"theme", "d"}}},
			want:      []KV{{"lang", "en"}, {"theme", "d"}},
			wantCount: 2,
			wantBytes: 15 - 3,
		},
		{
			name:      "overwrite with the same value",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"theme", "dark"}}},
			want:      []KV{{"lang", "en"}, {"theme", "dark"}},
			wantCount: 2,
			wantBytes: 15,
		},
		{
			name:        "delete existing and missing",
			give:        PatchPrefs{UserID: 1, Delete: []string{"lang", "nope"}},
			want:        []KV{{"theme", "dark"}},
			wantDeleted: 1,
			wantCount:   1,
			wantBytes:   9,
		},
		{
			name:        "delete everything",
			give:        PatchPrefs{UserID: 1, Delete: []string{"theme", "lang"}},
			want:        nil,
			wantDeleted: 2,
		},
		{
			name:        "delete listed twice counts once",
			give:        PatchPrefs{UserID: 1, Delete: []string{"lang", "lang"}},
			want:        []KV{{"theme", "dark"}},
			wantDeleted: 1,
			wantCount:   1,
			wantBytes:   9,
		},
		{
			name:      "delete of another user's key is a no-op",
			give:      PatchPrefs{UserID: 1, Delete: []string{"\x00\x00\x00\x00\x00\x00\x00\x02theme"}},
			want:      []KV{{"lang", "en"}, {"theme", "dark"}},
			wantCount: 2,
			wantBytes: 15,
		},
		{
			name:      "delete of the empty key is a no-op",
			give:      PatchPrefs{UserID: 1, Delete: []string{""}},
			want:      []KV{{"lang", "en"}, {"theme", "dark"}},
			wantCount: 2,
			wantBytes: 15,
		},
		{
			name:        "set and delete together",
			give:        PatchPrefs{UserID: 1, Set: []KV{{"font", "mono"}}, Delete: []string{"lang"}},
			want:        []KV{{"font", "mono"}, {"theme", "dark"}},
			wantDeleted: 1,
			wantCount:   2,
			wantBytes:   9 + 8,
		},
		{
			name:      "same key set twice: the later wins",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"k", "1"}, {"k", "22"}}},
			want:      []KV{{"k", "22"}, {"lang", "en"}, {"theme", "dark"}},
			wantCount: 3,
			wantBytes: 15 + 3,
		},
		{
			// Pins the current semantics: deletes are applied before sets,
			// so a key both set and deleted ends up set.
			name:      "key both set and deleted ends up set",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"theme", "light"}}, Delete: []string{"theme"}},
			want:      []KV{{"lang", "en"}, {"theme", "light"}},
			wantCount: 2,
			wantBytes: 15 - 4 + 5,
		},
		{
			name:      "multi-byte key and value count bytes",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"é", "日本"}}},
			want:      []KV{{"lang", "en"}, {"theme", "dark"}, {"é", "日本"}},
			wantCount: 3,
			wantBytes: 15 + 2 + 6,
		},
		{
			name:      "empty value is a value",
			give:      PatchPrefs{UserID: 1, Set: []KV{{"empty", ""}}},
			want:      []KV{{"empty", ""}, {"lang", "en"}, {"theme", "dark"}},
			wantCount: 3,
			wantBytes: 15 + 5,
		},
		{
			name:      "empty patch",
			give:      PatchPrefs{UserID: 1},
			want:      []KV{{"lang", "en"}, {"theme", "dark"}},
			wantCount: 2,
			wantBytes: 15,
		},
		{
			name:    "empty key",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"ok", "1"}, {"", "x"}}},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "key"},
		},
		{
			name:    "unknown user",
			give:    PatchPrefs{UserID: 3, Set: []KV{{"a", "b"}}},
			wantErr: ErrUserNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := prefsFixture(t)
			before := h.state()
			res := h.do(CmdPatchPrefs, tt.give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				checkUnchanged(t, before, h.state())
				return
			}
			if res.ID != 1 || res.Deleted != tt.wantDeleted {
				t.Errorf("result = %+v, want ID 1 Deleted %d", res, tt.wantDeleted)
			}
			s := h.state()
			checkPrefs(t, s, 1, tt.want)
			checkUsage(t, s, 1, tt.wantCount, tt.wantBytes)
			checkPrefs(t, s, 2, []KV{{"theme", "light"}})
			checkUsage(t, s, 2, 1, 10)
			checkInvariants(t, s)
		})
	}
}

// TestPatchPrefsUsageSequence follows the usage counters through a series of
// sets, overwrites and deletes.
func TestPatchPrefsUsageSequence(t *testing.T) {
	h := newHarness(t)
	h.user("alice")
	steps := []struct {
		give        PatchPrefs
		wantDeleted int
		wantCount   int64
		wantBytes   int64
	}{
		{give: PatchPrefs{Set: []KV{{"a", "1"}}}, wantCount: 1, wantBytes: 2},
		{give: PatchPrefs{Set: []KV{{"bb", "22"}, {"ccc", "333"}}}, wantCount: 3, wantBytes: 2 + 4 + 6},
		{give: PatchPrefs{Set: []KV{{"a", "1111"}}}, wantCount: 3, wantBytes: 5 + 4 + 6},
		{give: PatchPrefs{Set: []KV{{"ccc", ""}}}, wantCount: 3, wantBytes: 5 + 4 + 3},
		{give: PatchPrefs{Delete: []string{"bb", "zz"}}, wantDeleted: 1, wantCount: 2, wantBytes: 5 + 3},
		{give: PatchPrefs{Set: []KV{{"ü", "ñ"}}, Delete: []string{"a"}}, wantDeleted: 1, wantCount: 2, wantBytes: 3 + 4},
		{give: PatchPrefs{Delete: []string{"ccc", "ü"}}, wantDeleted: 2, wantCount: 0, wantBytes: 0},
		{give: PatchPrefs{Delete: []string{"ccc"}}, wantDeleted: 0, wantCount: 0, wantBytes: 0},
	}
	for i, st := range steps {
		st.give.UserID = 1
		res := h.ok(CmdPatchPrefs, st.give)
		if res.Deleted != st.wantDeleted {
			t.Errorf("step %d: Deleted = %d, want %d", i, res.Deleted, st.wantDeleted)
		}
		checkUsage(t, h.state(), 1, st.wantCount, st.wantBytes)
		checkInvariants(t, h.state())
	}
}

// TestPatchPrefsAtomicity checks that a refused patch changes nothing at all,
// whichever of its parts is at fault.
func TestPatchPrefsAtomicity(t *testing.T) {
	tests := []struct {
		name    string
		give    PatchPrefs
		wantErr *Error
	}{
		{
			name: "one over-long value in the middle",
			give: PatchPrefs{UserID: 1,
				Set:    []KV{{"new1", "x"}, {"theme", "light"}, {"long", strings.Repeat("v", 11)}, {"new2", "y"}},
				Delete: []string{"lang"}},
			wantErr: &Error{Code: ErrValueTooLong.Code, Key: "long", Limit: 10},
		},
		{
			name:    "over-long value last",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"theme", "light"}, {"z", "0123456789a"}}},
			wantErr: &Error{Code: ErrValueTooLong.Code, Key: "z", Limit: 10},
		},
		{
			name:    "over-long value first",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"z", "0123456789a"}, {"theme", "light"}}, Delete: []string{"theme"}},
			wantErr: &Error{Code: ErrValueTooLong.Code, Key: "z", Limit: 10},
		},
		{
			name:    "over-long key",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"a", "1"}, {"keykeykey", "1"}}, Delete: []string{"theme", "lang"}},
			wantErr: &Error{Code: ErrKeyTooLong.Code, Key: "keykeykey", Limit: 8},
		},
		{
			name:    "empty key after valid ones",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"a", "1"}, {"", "1"}}, Delete: []string{"theme"}},
			wantErr: &Error{Code: ErrInvalidArgument.Code, Key: "key"},
		},
		{
			name:    "too many preferences with deletes",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, Delete: []string{"lang"}},
			wantErr: &Error{Code: ErrTooManyPreferences.Code, Limit: 4},
		},
		{
			name:    "too many bytes with overwrites",
			give:    PatchPrefs{UserID: 1, Set: []KV{{"theme", "0123456789"}, {"lang", "0123456789"}, {"xy", "0123456789"}}},
			wantErr: &Error{Code: ErrTooManyBytes.Code, Limit: 40},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := prefsFixture(t)
			h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: QuotaPatch{
				MaxPreferences: ptr[int64](4),
				MaxValueLength: ptr[int64](10),
				MaxKeyLength:   ptr[int64](8),
				MaxTotalBytes:  ptr[int64](40),
			}})
			before := h.state()
			res := h.do(CmdPatchPrefs, tt.give)
			checkErrExact(t, res.Err, tt.wantErr)
			if res.ID != 0 || res.Deleted != 0 {
				t.Errorf("refused patch returned %+v, want only an error", res)
			}
			s := h.state()
			checkUnchanged(t, before, s)
			checkPrefs(t, s, 1, []KV{{"lang", "en"}, {"theme", "dark"}})
			checkUsage(t, s, 1, 2, 15)
		})
	}
}

func TestPatchPrefsQuotaLimits(t *testing.T) {
	tests := []struct {
		name      string
		setup     []KV       // alice's prefs, stored under the built-in default
		defQuota  QuotaPatch // then applied to the default quota
		userQuota QuotaPatch // then set as alice's overrides
		give      PatchPrefs // UserID is filled in
		wantErr   *Error
		wantCount int64 // on success
		wantBytes int64 // on success
	}{
		// max_preferences
		{
			name:      "count exactly at the limit",
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
			wantCount: 3, wantBytes: 6,
		},
		{
			name:     "count one over the limit",
			defQuota: QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:     PatchPrefs{Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}},
			wantErr:  &Error{Code: ErrTooManyPreferences.Code, Limit: 3},
		},
		{
			name:     "at the limit, add one",
			setup:    []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}},
			defQuota: QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:     PatchPrefs{Set: []KV{{"d", "4"}}},
			wantErr:  &Error{Code: ErrTooManyPreferences.Code, Limit: 3},
		},
		{
			name:      "at the limit, overwrite",
			setup:     []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"a", "11"}}},
			wantCount: 3, wantBytes: 7,
		},
		{
			name:      "at the limit, replace one key by another",
			setup:     []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"d", "4"}}, Delete: []string{"a"}},
			wantCount: 3, wantBytes: 6,
		},
		{
			name:     "limit of zero",
			defQuota: QuotaPatch{MaxPreferences: ptr[int64](0)},
			give:     PatchPrefs{Set: []KV{{"a", "1"}}},
			wantErr:  &Error{Code: ErrTooManyPreferences.Code, Limit: 0},
		},
		{
			name:      "over a lowered limit: overwrite is allowed",
			setup:     []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](2)},
			give:      PatchPrefs{Set: []KV{{"b", "22"}}},
			wantCount: 5, wantBytes: 11,
		},
		{
			name:      "over a lowered limit: delete is allowed",
			setup:     []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](2)},
			give:      PatchPrefs{Delete: []string{"a"}},
			wantCount: 4, wantBytes: 8,
		},
		{
			name:     "over a lowered limit: add is refused",
			setup:    []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}},
			defQuota: QuotaPatch{MaxPreferences: ptr[int64](2)},
			give:     PatchPrefs{Set: []KV{{"f", "6"}}},
			wantErr:  &Error{Code: ErrTooManyPreferences.Code, Limit: 2},
		},
		{
			name:      "over a lowered limit: add while deleting more is allowed",
			setup:     []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}},
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](2)},
			give:      PatchPrefs{Set: []KV{{"f", "6"}}, Delete: []string{"a", "b"}},
			wantCount: 4, wantBytes: 8,
		},
		// max_total_bytes
		{
			name:      "bytes exactly at the limit",
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:      PatchPrefs{Set: []KV{{"ab", "cdefghij"}}},
			wantCount: 1, wantBytes: 10,
		},
		{
			name:     "bytes one over the limit",
			defQuota: QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:     PatchPrefs{Set: []KV{{"ab", "cdefghijk"}}},
			wantErr:  &Error{Code: ErrTooManyBytes.Code, Limit: 10},
		},
		{
			name:      "multi-byte value at the byte limit",
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:      PatchPrefs{Set: []KV{{"k", "日本語"}}},
			wantCount: 1, wantBytes: 10,
		},
		{
			name:     "multi-byte value one byte over",
			defQuota: QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:     PatchPrefs{Set: []KV{{"k", "日本語!"}}},
			wantErr:  &Error{Code: ErrTooManyBytes.Code, Limit: 10},
		},
		{
			name:      "over a lowered byte limit: shrinking overwrite is allowed",
			setup:     []KV{{"a", "0123456789"}, {"b", "xy"}},
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:      PatchPrefs{Set: []KV{{"a", "0123"}}},
			wantCount: 2, wantBytes: 8,
		},
		{
			name:      "over a lowered byte limit: same-size overwrite is allowed",
			setup:     []KV{{"a", "0123456789"}, {"b", "xy"}},
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:      PatchPrefs{Set: []KV{{"a", "9876543210"}}},
			wantCount: 2, wantBytes: 14,
		},
		{
			name:     "over a lowered byte limit: growing overwrite is refused",
			setup:    []KV{{"a", "0123456789"}, {"b", "xy"}},
			defQuota: QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:     PatchPrefs{Set: []KV{{"a", "0123456789!"}}},
			wantErr:  &Error{Code: ErrTooManyBytes.Code, Limit: 10},
		},
		{
			name:      "over a lowered byte limit: delete is allowed",
			setup:     []KV{{"a", "0123456789"}, {"b", "xy"}},
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:      PatchPrefs{Delete: []string{"b"}},
			wantCount: 1, wantBytes: 11,
		},
		{
			name:     "over a lowered byte limit: add is refused",
			setup:    []KV{{"a", "0123456789"}, {"b", "xy"}},
			defQuota: QuotaPatch{MaxTotalBytes: ptr[int64](10)},
			give:     PatchPrefs{Set: []KV{{"c", ""}}},
			wantErr:  &Error{Code: ErrTooManyBytes.Code, Limit: 10},
		},
		// max_value_length, in code points
		{
			name:      "3-rune multi-byte value at length 3",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"k", "日本語"}}},
			wantCount: 1, wantBytes: 10,
		},
		{
			name:      "emoji count as one code point each",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"k", "😀😀😀"}}},
			wantCount: 1, wantBytes: 13,
		},
		{
			name:     "4-rune multi-byte value over length 3",
			defQuota: QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:     PatchPrefs{Set: []KV{{"ok", "abc"}, {"k", "日本語x"}}},
			wantErr:  &Error{Code: ErrValueTooLong.Code, Key: "k", Limit: 3},
		},
		{
			name:      "ASCII value exactly at length",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"k", "abc"}}},
			wantCount: 1, wantBytes: 4,
		},
		{
			name:     "ASCII value one over",
			defQuota: QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:     PatchPrefs{Set: []KV{{"key", "abcd"}}},
			wantErr:  &Error{Code: ErrValueTooLong.Code, Key: "key", Limit: 3},
		},
		{
			name:      "value length zero allows only empty values",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](0)},
			give:      PatchPrefs{Set: []KV{{"k", ""}}},
			wantCount: 1, wantBytes: 1,
		},
		{
			name:     "value length zero refuses one character",
			defQuota: QuotaPatch{MaxValueLength: ptr[int64](0)},
			give:     PatchPrefs{Set: []KV{{"k", "a"}}},
			wantErr:  &Error{Code: ErrValueTooLong.Code, Key: "k", Limit: 0},
		},
		{
			name:      "existing over-long value may be deleted",
			setup:     []KV{{"k", "abcdef"}},
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](3)},
			give:      PatchPrefs{Delete: []string{"k"}},
			wantCount: 0, wantBytes: 0,
		},
		// max_key_length, in code points
		{
			name:      "2-rune multi-byte key at length 2",
			defQuota:  QuotaPatch{MaxKeyLength: ptr[int64](2)},
			give:      PatchPrefs{Set: []KV{{"日本", "v"}}},
			wantCount: 1, wantBytes: 7,
		},
		{
			name:     "3-rune multi-byte key over length 2",
			defQuota: QuotaPatch{MaxKeyLength: ptr[int64](2)},
			give:     PatchPrefs{Set: []KV{{"日本語", "v"}}},
			wantErr:  &Error{Code: ErrKeyTooLong.Code, Key: "日本語", Limit: 2},
		},
		{
			name:     "ASCII key over length",
			defQuota: QuotaPatch{MaxKeyLength: ptr[int64](2)},
			give:     PatchPrefs{Set: []KV{{"abc", "v"}}},
			wantErr:  &Error{Code: ErrKeyTooLong.Code, Key: "abc", Limit: 2},
		},
		{
			name:     "key checked before value",
			defQuota: QuotaPatch{MaxKeyLength: ptr[int64](2), MaxValueLength: ptr[int64](2)},
			give:     PatchPrefs{Set: []KV{{"abc", "abc"}}},
			wantErr:  &Error{Code: ErrKeyTooLong.Code, Key: "abc", Limit: 2},
		},
		{
			name:     "long key in delete is not checked",
			setup:    []KV{{"abcdef", "v"}},
			defQuota: QuotaPatch{MaxKeyLength: ptr[int64](2)},
			give:     PatchPrefs{Delete: []string{"abcdef"}},
		},
		// per-user overrides
		{
			name:      "user override above the default",
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](1)},
			userQuota: QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
			wantCount: 3, wantBytes: 6,
		},
		{
			name:      "user override above the default, one over",
			defQuota:  QuotaPatch{MaxPreferences: ptr[int64](1)},
			userQuota: QuotaPatch{MaxPreferences: ptr[int64](3)},
			give:      PatchPrefs{Set: []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}},
			wantErr:   &Error{Code: ErrTooManyPreferences.Code, Limit: 3},
		},
		{
			name:      "user override below the default",
			userQuota: QuotaPatch{MaxPreferences: ptr[int64](1)},
			give:      PatchPrefs{Set: []KV{{"a", "1"}, {"b", "2"}}},
			wantErr:   &Error{Code: ErrTooManyPreferences.Code, Limit: 1},
		},
		{
			name:      "user value length override",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](2)},
			userQuota: QuotaPatch{MaxValueLength: ptr[int64](5)},
			give:      PatchPrefs{Set: []KV{{"k", "abcdef"}}},
			wantErr:   &Error{Code: ErrValueTooLong.Code, Key: "k", Limit: 5},
		},
		{
			name:      "user value length override allows more than the default",
			defQuota:  QuotaPatch{MaxValueLength: ptr[int64](2)},
			userQuota: QuotaPatch{MaxValueLength: ptr[int64](5)},
			give:      PatchPrefs{Set: []KV{{"k", "abcde"}}},
			wantCount: 1, wantBytes: 6,
		},
		{
			name:      "user key length override",
			userQuota: QuotaPatch{MaxKeyLength: ptr[int64](1)},
			give:      PatchPrefs{Set: []KV{{"ab", "v"}}},
			wantErr:   &Error{Code: ErrKeyTooLong.Code, Key: "ab", Limit: 1},
		},
		{
			name:      "user byte override",
			defQuota:  QuotaPatch{MaxTotalBytes: ptr[int64](100)},
			userQuota: QuotaPatch{MaxTotalBytes: ptr[int64](4)},
			give:      PatchPrefs{Set: []KV{{"k", "abcd"}}},
			wantErr:   &Error{Code: ErrTooManyBytes.Code, Limit: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.user("alice")
			h.user("bob")
			if len(tt.setup) > 0 {
				h.set(1, tt.setup...)
			}
			h.ok(CmdSetDefaultQuota, SetDefaultQuota{Quota: tt.defQuota})
			h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: tt.userQuota})
			before := h.state()
			give := tt.give
			give.UserID = 1
			res := h.do(CmdPatchPrefs, give)
			checkErrExact(t, res.Err, tt.wantErr)
			if tt.wantErr != nil {
				if !IsQuotaError(res.Err) {
					t.Errorf("IsQuotaError(%v) = false, want true", res.Err)
				}
				checkUnchanged(t, before, h.state())
				return
			}
			checkUsage(t, h.state(), 1, tt.wantCount, tt.wantBytes)
			checkInvariants(t, h.state())
		})
	}
}

// TestPatchPrefsOverrideIsPerUser checks that one user's override does not
// apply to another user.
func TestPatchPrefsOverrideIsPerUser(t *testing.T) {
	h := newHarness(t)
	h.user("alice")
	h.user("bob")
	h.ok(CmdSetDefaultQuota, SetDefaultQuota{Quota: QuotaPatch{MaxPreferences: ptr[int64](2)}})
	h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Quota: QuotaPatch{MaxPreferences: ptr[int64](5)}})
	three := []KV{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	checkErr(t, h.do(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: three}).Err, nil)
	checkErrExact(t, h.do(CmdPatchPrefs, PatchPrefs{UserID: 2, Set: three}).Err, &Error{Code: ErrTooManyPreferences.Code, Limit: 2})
	// Resetting alice's overrides puts her back under the default, which she
	// is now over: she may not add.
	h.ok(CmdSetUserQuota, SetUserQuota{UserID: 1, Reset: true})
	checkErrExact(t, h.do(CmdPatchPrefs, PatchPrefs{UserID: 1, Set: []KV{{"d", "4"}}}).Err, &Error{Code: ErrTooManyPreferences.Code, Limit: 2})
	checkUsage(t, h.state(), 1, 3, 6)
	checkUsage(t, h.state(), 2, 0, 0)
}

// TestPatchPrefsManyKeys checks usage and ordering over enough keys to build
// a deep tree, including keys that are prefixes of one another.
func TestPatchPrefsManyKeys(t *testing.T) {
	h := newHarness(t)
	h.user("alice")
	h.user("bob")
	var want []KV
	var size int64
	for i := range 300 {
		k := fmt.Sprintf("k%d", i) // k1 is a prefix of k10, k100...
		v := strings.Repeat("v", i%7)
		want = append(want, KV{k, v})
		size += int64(len(k) + len(v))
	}
	h.set(1, want...)
	h.set(2, KV{"k1", "bob"})
	slices.SortFunc(want, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	checkPrefs(t, h.state(), 1, want)
	checkUsage(t, h.state(), 1, 300, size)

	var del []string
	for i := 0; i < 300; i += 2 {
		del = append(del, fmt.Sprintf("k%d", i))
	}
	res := h.ok(CmdPatchPrefs, PatchPrefs{UserID: 1, Delete: del})
	if res.Deleted != 150 {
		t.Errorf("Deleted = %d, want 150", res.Deleted)
	}
	checkUsage(t, h.state(), 1, 150, size-deletedBytes(want, del))
	checkPrefs(t, h.state(), 2, []KV{{"k1", "bob"}})

	res = h.ok(CmdDeleteUser, DeleteUser{UserID: 1})
	if res.Deleted != 150 {
		t.Errorf("DeleteUser Deleted = %d, want 150", res.Deleted)
	}
	checkPrefs(t, h.state(), 2, []KV{{"k1", "bob"}})
	checkInvariants(t, h.state())
}

func deletedBytes(kvs []KV, keys []string) int64 {
	var n int64
	for _, kv := range kvs {
		if slices.Contains(keys, kv.Key) {
			n += int64(len(kv.Key) + len(kv.Value))
		}
	}
	return n
}
