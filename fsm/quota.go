package fsm

// Quota holds the per-user limits on free-form preferences. Lengths count
// characters (Unicode code points), as the original products do; total bytes
// count the UTF-8 bytes of every key and value the user holds. Whatever the
// quota, a user's keys and values together stay under 4 GiB (the state
// packs them in one block with 32-bit offsets): a patch past that is
// refused with ErrTooManyBytes.
type Quota struct {
	MaxPreferences int64 `json:"max_preferences"`
	MaxValueLength int64 `json:"max_value_length"`
	MaxKeyLength   int64 `json:"max_key_length"`
	MaxTotalBytes  int64 `json:"max_total_bytes"`
}

// The built-in default quota, in force until an operator changes it.
//
// The value and key lengths are those of the layout preferences API. The
// count and byte limits keep one user's share of memory bounded: every node
// holds the whole state in memory, so a user may hold at most 16 MiB.
const (
	DefaultMaxPreferences = 10000
	DefaultMaxValueLength = 110000
	DefaultMaxKeyLength   = 255
	DefaultMaxTotalBytes  = 16 << 20
)

// DefaultQuota returns the built-in default quota.
func DefaultQuota() Quota {
	return Quota{
		MaxPreferences: DefaultMaxPreferences,
		MaxValueLength: DefaultMaxValueLength,
		MaxKeyLength:   DefaultMaxKeyLength,
		MaxTotalBytes:  DefaultMaxTotalBytes,
	}
}

// QuotaPatch changes some fields of a quota. A nil field is left alone.
type QuotaPatch struct {
	MaxPreferences *int64 `json:"max_preferences,omitempty"`
	MaxValueLength *int64 `json:"max_value_length,omitempty"`
	MaxKeyLength   *int64 `json:"max_key_length,omitempty"`
	MaxTotalBytes  *int64 `json:"max_total_bytes,omitempty"`
}

// fields pairs each patch field with the quota field it changes, in a fixed
// order.
func (p *QuotaPatch) fields(q *Quota) [4]struct {
	from *int64
	to   *int64
} {
	return [4]struct {
		from *int64
		to   *int64
	}{
		{p.MaxPreferences, &q.MaxPreferences},
		{p.MaxValueLength, &q.MaxValueLength},
		{p.MaxKeyLength, &q.MaxKeyLength},
		{p.MaxTotalBytes, &q.MaxTotalBytes},
	}
}

// apply returns q with the patch's set fields copied in.
func (p QuotaPatch) apply(q Quota) Quota {
	for _, f := range p.fields(&q) {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	return q
}

// merge returns the patch p with o's set fields laid over it.
func (p QuotaPatch) merge(o QuotaPatch) QuotaPatch {
	set := func(a, b *int64) *int64 {
		if b != nil {
			v := *b
			return &v
		}
		return a
	}
	return QuotaPatch{
		MaxPreferences: set(p.MaxPreferences, o.MaxPreferences),
		MaxValueLength: set(p.MaxValueLength, o.MaxValueLength),
		MaxKeyLength:   set(p.MaxKeyLength, o.MaxKeyLength),
		MaxTotalBytes:  set(p.MaxTotalBytes, o.MaxTotalBytes),
	}
}

// valid reports whether every set field is a usable limit (not negative).
func (p QuotaPatch) valid() bool {
	var q Quota
	for _, f := range p.fields(&q) {
		if f.from != nil && *f.from < 0 {
			return false
		}
	}
	return true
}
