package fsm

import (
	"encoding/json"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Typed settings are defined in a replicated catalogue, so that every node
// validates a value alike. A definition belongs to a registry (the product
// whose API serves it) and a scope; its key is unique within the two.

// Registry names the product whose API serves a setting.
type Registry string

// The registries.
const (
	RegistryInvenTree Registry = "inventree"
	RegistryDynPrefs  Registry = "dynprefs"
)

// Scope says whose value a setting holds.
type Scope string

// The scopes.
const (
	// ScopeGlobal settings hold one value for the whole installation.
	ScopeGlobal Scope = "global"
	// ScopeUser settings hold one value per user.
	ScopeUser Scope = "user"
	// ScopeNotification settings hold one value per user and notification
	// method.
	ScopeNotification Scope = "notification"
)

// SettingType is a setting's value type.
type SettingType string

// The setting types. Each has one canonical text form, which is what the
// state stores; dialects convert to and from their own representations.
const (
	TypeBoolean        SettingType = "boolean"         // "True" or "False"
	TypeInteger        SettingType = "integer"         // base-10 integer
	TypeFloat          SettingType = "float"           // a finite number
	TypeDecimal        SettingType = "decimal"         // a finite number
	TypeString         SettingType = "string"          // any text
	TypeLongString     SettingType = "long_string"     // any text
	TypeChoice         SettingType = "choice"          // one of Choices, or ""
	TypeMultipleChoice SettingType = "multiple_choice" // a JSON array of Choices, sorted
	TypeDate           SettingType = "date"            // YYYY-MM-DD
	TypeDateTime       SettingType = "datetime"        // RFC 3339 with an offset
	TypeTime           SettingType = "time"            // HH:MM:SS[.ffffff]
	TypeDuration       SettingType = "duration"        // [D ]HH:MM:SS[.ffffff]
	TypeRelated        SettingType = "related"         // the id of a related object, or ""
)

// Choice is one allowed value of a choice setting.
type Choice struct {
	Value       string `json:"value" yaml:"value"`
	DisplayName string `json:"display_name" yaml:"display_name"`
}

// SettingDef defines one setting.
type SettingDef struct {
	Registry Registry    `json:"registry" yaml:"registry"`
	Scope    Scope       `json:"scope" yaml:"scope"`
	Key      string      `json:"key" yaml:"key"`
	Type     SettingType `json:"type" yaml:"type"`
	// Section groups settings; dynamic-preferences identifiers are
	// section__name, and Key holds that identifier.
	Section     string `json:"section,omitempty" yaml:"section,omitempty"`
	Name        string `json:"name,omitempty" yaml:"name,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Default is the value in canonical form.
	Default string   `json:"default" yaml:"default"`
	Choices []Choice `json:"choices,omitempty" yaml:"choices,omitempty"`
	Units   string   `json:"units,omitempty" yaml:"units,omitempty"`
	// Min and Max bound numeric values.
	Min *float64 `json:"min,omitempty" yaml:"min,omitempty"`
	Max *float64 `json:"max,omitempty" yaml:"max,omitempty"`
	// Regex must match the whole value of a text setting (RE2 syntax).
	Regex string `json:"regex,omitempty" yaml:"regex,omitempty"`
	// Validator names a built-in check: "currency_codes" or "url".
	Validator string `json:"validator,omitempty" yaml:"validator,omitempty"`
	// Message, if set, is what dialects answer when Regex or Validator
	// refuses a value, as a Django validator's own message would be.
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
	// Hidden settings are listed but not shown in user interfaces;
	// Protected ones never show their value.
	Hidden    bool `json:"hidden,omitempty" yaml:"hidden,omitempty"`
	Protected bool `json:"protected,omitempty" yaml:"protected,omitempty"`
	// ModelName names the related model of a related setting.
	ModelName string `json:"model_name,omitempty" yaml:"model_name,omitempty"`
	// Method is a notification setting's notification method.
	Method string `json:"method,omitempty" yaml:"method,omitempty"`
	// ID is assigned by the state machine when the key is first defined
	// and never changes while the key stays defined.
	ID uint64 `json:"id,omitempty" yaml:"-"`
}

// catalogKey is the tree key of a definition: registry, scope, key.
func catalogKey(r Registry, s Scope, key string) []byte {
	return appendCatalogKey(make([]byte, 0, catalogKeyLen(r, s, key)), r, s, key)
}

// catalogKeyLen is the length of catalogKey(r, s, key).
func catalogKeyLen(r Registry, s Scope, key string) int {
	return len(r) + len(s) + len(key) + 2
}

// appendCatalogKey appends catalogKey(r, s, key) to b: registry, scope and
// key, each pair separated by a zero byte.
func appendCatalogKey(b []byte, r Registry, s Scope, key string) []byte {
	b = append(b, r...)
	b = append(b, 0)
	b = append(b, s...)
	b = append(b, 0)
	return append(b, key...)
}

// settingKey is the tree key of a stored value. Global values have user 0.
func settingKey(userID uint64, r Registry, s Scope, key string) []byte {
	return appendCatalogKey(idKeyRoom(userID, catalogKeyLen(r, s, key)), r, s, key)
}

// Setting validation reasons, carried in Error.Key's companion field
// Reason of ErrSettingInvalid.
const (
	ReasonType      = "type"       // not the canonical form of the type
	ReasonChoice    = "choice"     // not among the choices
	ReasonMin       = "min"        // below Min
	ReasonMax       = "max"        // above Max
	ReasonRegex     = "regex"      // does not match Regex
	ReasonValidator = "validator"  // refused by the named validator
	ReasonTooLong   = "too_long"   // longer than MaxSettingLength
	ReasonUnknown   = "unknown"    // no such definition
	ReasonBadDef    = "definition" // the definition itself is malformed
)

// MaxSettingLength bounds a setting value's canonical form, in bytes.
const MaxSettingLength = 2000

// CheckDef reports what is wrong with a definition, or "".
func CheckDef(d *SettingDef) string {
	switch {
	case d.Registry != RegistryInvenTree && d.Registry != RegistryDynPrefs:
		return "unknown registry " + strconv.Quote(string(d.Registry))
	case d.Scope != ScopeGlobal && d.Scope != ScopeUser && d.Scope != ScopeNotification:
		return "unknown scope " + strconv.Quote(string(d.Scope))
	case d.Key == "" || len(d.Key) > 150 || strings.ContainsRune(d.Key, 0):
		return "a key of 1 to 150 bytes is required"
	case d.Regex != "" && !validRegex(d.Regex):
		return "regex does not compile"
	case d.Validator != "" && d.Validator != "currency_codes" && d.Validator != "url":
		return "unknown validator " + strconv.Quote(d.Validator)
	}
	if !knownType(d.Type) {
		return "unknown type " + strconv.Quote(string(d.Type))
	}
	if (d.Type == TypeChoice || d.Type == TypeMultipleChoice) && len(d.Choices) == 0 {
		return "a choice setting needs choices"
	}
	if r := ValidateSetting(d, d.Default); r != "" && d.Default != "" {
		return "default is not valid: " + r
	}
	return ""
}

func validRegex(expr string) bool {
	_, err := regexp.Compile(expr)
	return err == nil
}

func knownType(t SettingType) bool {
	switch t {
	case TypeBoolean, TypeInteger, TypeFloat, TypeDecimal, TypeString, TypeLongString, TypeChoice,
		TypeMultipleChoice, TypeDate, TypeDateTime, TypeTime, TypeDuration, TypeRelated:
		return true
	}
	return false
}

// ValidateSetting checks a canonical value against its definition and
// returns the reason it is refused, or "". It is deterministic: dialects
// call it before proposing a write and the state machine calls it again
// when applying one.
func ValidateSetting(d *SettingDef, v string) string {
	if len(v) > MaxSettingLength {
		return ReasonTooLong
	}
	num := math.NaN()
	switch d.Type {
	case TypeBoolean:
		if v != "True" && v != "False" {
			return ReasonType
		}
	case TypeInteger:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != v {
			return ReasonType
		}
		num = float64(n)
	case TypeFloat, TypeDecimal:
		if strings.Trim(v, "0123456789.eE+-") != "" {
			return ReasonType // no hexadecimal, underscores or spaces
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return ReasonType
		}
		num = f
	case TypeChoice:
		if v != "" && !hasChoice(d.Choices, v) {
			return ReasonChoice
		}
	case TypeMultipleChoice:
		var items []string
		if json.Unmarshal([]byte(v), &items) != nil || items == nil || !slices.IsSorted(items) ||
			len(slices.Compact(slices.Clone(items))) != len(items) {
			return ReasonType
		}
		if canon, _ := json.Marshal(items); string(canon) != v {
			return ReasonType // one spelling per value: compact JSON
		}
		for _, it := range items {
			if !hasChoice(d.Choices, it) {
				return ReasonChoice
			}
		}
	case TypeDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return ReasonType
		}
	case TypeDateTime:
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return ReasonType
		}
	case TypeTime:
		if !validClock(v) {
			return ReasonType
		}
	case TypeDuration:
		if !validDuration(v) {
			return ReasonType
		}
	case TypeString, TypeLongString, TypeRelated:
	default:
		return ReasonType
	}
	if !math.IsNaN(num) {
		if d.Min != nil && num < *d.Min {
			return ReasonMin
		}
		if d.Max != nil && num > *d.Max {
			return ReasonMax
		}
	}
	if d.Regex != "" {
		re, err := regexp.Compile(`^(?:` + d.Regex + `)$`)
		if err != nil || !re.MatchString(v) {
			return ReasonRegex
		}
	}
	switch d.Validator {
	case "currency_codes":
		if CheckCurrencyCodes(v) != "" {
			return ReasonValidator
		}
	case "url":
		if v != "" && !validURL(v) {
			return ReasonValidator
		}
	}
	return ""
}

// validURL accepts an absolute http or https URL with a host, as
// InvenTree's base URL validator does (a top-level domain is optional).
func validURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(v, " \t\n")
}

func hasChoice(cs []Choice, v string) bool {
	for _, c := range cs {
		if c.Value == v {
			return true
		}
	}
	return false
}

// validClock accepts HH:MM:SS with an optional six-digit fraction.
func validClock(v string) bool {
	main, frac, hasFrac := strings.Cut(v, ".")
	if hasFrac && (len(frac) != 6 || strings.Trim(frac, "0123456789") != "") {
		return false
	}
	_, err := time.Parse(time.TimeOnly, main)
	return err == nil && len(main) == 8
}

// validDuration accepts Django's duration form: [-][D ]HH:MM:SS[.ffffff].
func validDuration(v string) bool {
	v = strings.TrimPrefix(v, "-")
	if days, rest, ok := strings.Cut(v, " "); ok {
		if _, err := strconv.ParseUint(days, 10, 32); err != nil {
			return false
		}
		v = rest
	}
	main, frac, hasFrac := strings.Cut(v, ".")
	if hasFrac && (len(frac) != 6 || strings.Trim(frac, "0123456789") != "") {
		return false
	}
	parts := strings.Split(main, ":")
	if len(parts) != 3 {
		return false
	}
	limits := []int{23, 59, 59} // Django writes whole days as a day count
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) != 2 || n < 0 || n > limits[i] {
			return false
		}
	}
	return true
}

// CheckCurrencyCodes checks a comma-separated list of ISO 4217 codes as
// InvenTree does, returning InvenTree's message or "".
func CheckCurrencyCodes(v string) string {
	seen := map[string]bool{}
	valid := 0
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(strings.ToUpper(c))
		if c == "" {
			continue
		}
		if !isoCurrency(c) {
			return "Invalid currency code: '" + c + "'"
		}
		if seen[c] {
			return "Duplicate currency code: '" + c + "'"
		}
		seen[c] = true
		valid++
	}
	if valid == 0 {
		return "No valid currency codes provided"
	}
	return ""
}
