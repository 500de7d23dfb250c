package fsm

import "fmt"

// Error is a business error produced by Apply. It is a value, not a failure of
// the replica: every node computes the same Error for the same entry, and the
// leader hands it back to the client through raft's ApplyFuture.Response.
//
// Errors travel between nodes as JSON (a follower relays the leader's answer),
// so an Error is plain data and errors.Is matches on Code alone.
type Error struct {
	// Code names the kind of error; it is what errors.Is compares.
	Code string `json:"code"`
	// Key is the preference key or username the error is about, if any.
	Key string `json:"key,omitempty"`
	// Limit is the quota limit in force, for quota errors.
	Limit int64 `json:"limit,omitempty"`
	// Reason says why a setting value was refused (Reason* constants).
	Reason string `json:"reason,omitempty"`
}

// Error returns a human-readable form of e.
func (e *Error) Error() string {
	msg := "fsm: " + e.Code
	if e.Key != "" {
		msg += fmt.Sprintf(" (key %q)", e.Key)
	}
	if e.Limit != 0 {
		msg += fmt.Sprintf(" (limit %d)", e.Limit)
	}
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// Is reports whether target is an *Error with the same Code, so that a
// detailed error matches its sentinel. A nil *Error matches nothing.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e != nil && t != nil && t.Code == e.Code
}

// with returns a copy of e carrying key and limit.
func (e *Error) with(key string, limit int64) *Error {
	return &Error{Code: e.Code, Key: key, Limit: limit}
}

// Sentinel errors returned by Apply. Match them with errors.Is.
var (
	// ErrInvalidCommand means the entry could not be decoded or names an
	// unknown command type. The entry changes nothing.
	ErrInvalidCommand = &Error{Code: "invalid_command"}
	// ErrInvalidArgument means a decoded command carries a value that can
	// never be valid (an empty username, an empty key, a negative limit).
	ErrInvalidArgument = &Error{Code: "invalid_argument"}
	// ErrUserExists means the username is taken (compared case-insensitively).
	ErrUserExists = &Error{Code: "user_exists"}
	// ErrUserNotFound means the command names a user that does not exist.
	ErrUserNotFound = &Error{Code: "user_not_found"}
	// ErrTokenNotFound means the command names a token that does not exist.
	ErrTokenNotFound = &Error{Code: "token_not_found"}
	// ErrTokenExists means a token with the same digest is already stored.
	ErrTokenExists = &Error{Code: "token_exists"}
	// ErrTooManyPreferences means the write would take the user over
	// max_preferences. Limit carries the limit in force.
	ErrTooManyPreferences = &Error{Code: "too_many_preferences"}
	// ErrTooManyBytes means the write would take the user over
	// max_total_bytes. Limit carries the limit in force.
	ErrTooManyBytes = &Error{Code: "too_many_bytes"}
	// ErrValueTooLong means a value is longer than max_value_length
	// characters. Key and Limit say which and how long.
	ErrValueTooLong = &Error{Code: "value_too_long"}
	// ErrKeyTooLong means a key is longer than max_key_length characters.
	ErrKeyTooLong = &Error{Code: "key_too_long"}
	// ErrSettingUnknown means a setting key has no definition in the
	// catalogue. Key names it.
	ErrSettingUnknown = &Error{Code: "setting_unknown"}
	// ErrSettingInvalid means a setting value, or a definition, was
	// refused. Key names it and Reason says why.
	ErrSettingInvalid = &Error{Code: "setting_invalid"}
)

// IsQuotaError reports whether err is one of the quota refusals.
func IsQuotaError(err *Error) bool {
	if err == nil {
		return false
	}
	switch err.Code {
	case ErrTooManyPreferences.Code, ErrTooManyBytes.Code, ErrValueTooLong.Code, ErrKeyTooLong.Code:
		return true
	}
	return false
}
