package fsm

import (
	"slices"
	"strings"
	"testing"
)

// def returns a valid definition of type typ in the InvenTree global
// scope, changed by each option.
func def(key string, typ SettingType, opts ...func(*SettingDef)) SettingDef {
	d := SettingDef{Registry: RegistryInvenTree, Scope: ScopeGlobal, Key: key, Type: typ}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func withDefault(v string) func(*SettingDef) { return func(d *SettingDef) { d.Default = v } }

func withChoices(values ...string) func(*SettingDef) {
	return func(d *SettingDef) {
		d.Choices = nil
		for _, v := range values {
			d.Choices = append(d.Choices, Choice{Value: v, DisplayName: strings.ToUpper(v)})
		}
	}
}

func withRange(lo, hi *float64) func(*SettingDef) {
	return func(d *SettingDef) { d.Min, d.Max = lo, hi }
}

func withRegex(re string) func(*SettingDef) { return func(d *SettingDef) { d.Regex = re } }

func withValidator(v string) func(*SettingDef) { return func(d *SettingDef) { d.Validator = v } }

func inScope(r Registry, s Scope) func(*SettingDef) {
	return func(d *SettingDef) { d.Registry, d.Scope = r, s }
}

func TestCheckDef(t *testing.T) {
	tests := []struct {
		name string
		give SettingDef
		want string // "" or a prefix of the reason
	}{
		{"valid boolean", def("B", TypeBoolean, withDefault("True")), ""},
		{"valid without a default", def("B", TypeInteger), ""},
		{"empty default of a typed setting", def("B", TypeDate, withDefault("")), ""},
		{"valid choice", def("C", TypeChoice, withChoices("a", "b"), withDefault("b")), ""},
		{"valid multiple choice", def("M", TypeMultipleChoice, withChoices("a", "b"), withDefault(`["a","b"]`)), ""},
		{"dynprefs user", def("s__n", TypeString, inScope(RegistryDynPrefs, ScopeUser)), ""},
		{"notification", def("N", TypeBoolean, inScope(RegistryInvenTree, ScopeNotification)), ""},
		{"key of 150 bytes", def(strings.Repeat("k", 150), TypeString), ""},
		{"valid regex", def("R", TypeString, withRegex(`[a-z]+`), withDefault("abc")), ""},
		{"url validator", def("U", TypeString, withValidator("url")), ""},
		{"currency validator", def("CC", TypeString, withValidator("currency_codes"), withDefault("USD")), ""},

		{"unknown registry", def("B", TypeBoolean, inScope("django", ScopeGlobal)), `unknown registry "django"`},
		{"empty registry", def("B", TypeBoolean, inScope("", ScopeGlobal)), `unknown registry ""`},
		{"unknown scope", def("B", TypeBoolean, inScope(RegistryInvenTree, "plugin")), `unknown scope "plugin"`},
		{"empty key", def("", TypeBoolean), "a key of 1 to 150 bytes is required"},
		{"key of 151 bytes", def(strings.Repeat("k", 151), TypeString), "a key of 1 to 150 bytes is required"},
		{"key with NUL", def("A\x00B", TypeString), "a key of 1 to 150 bytes is required"},
		{"bad regex", def("R", TypeString, withRegex(`(unclosed`)), "regex does not compile"},
		{"lookahead is not RE2", def("R", TypeString, withRegex(`(?!x)`)), "regex does not compile"},
		{"unknown validator", def("V", TypeString, withValidator("email")), `unknown validator "email"`},
		{"unknown type", def("T", "bool"), `unknown type "bool"`},
		{"empty type", def("T", ""), `unknown type ""`},
		{"choice without choices", def("C", TypeChoice), "a choice setting needs choices"},
		{"multiple choice without choices", def("M", TypeMultipleChoice), "a choice setting needs choices"},
		{"bad boolean default", def("B", TypeBoolean, withDefault("true")), "default is not valid: " + ReasonType},
		{"default not a choice", def("C", TypeChoice, withChoices("a"), withDefault("z")), "default is not valid: " + ReasonChoice},
		{"default below min", def("I", TypeInteger, withRange(ptr(1.0), nil), withDefault("0")), "default is not valid: " + ReasonMin},
		{"default above max", def("I", TypeInteger, withRange(nil, ptr(5.0)), withDefault("6")), "default is not valid: " + ReasonMax},
		{"default not matching regex", def("R", TypeString, withRegex(`[a-z]+`), withDefault("ABC")), "default is not valid: " + ReasonRegex},
		{"default refused by validator", def("CC", TypeString, withValidator("currency_codes"), withDefault("XYZ")), "default is not valid: " + ReasonValidator},
		{"default too long", def("S", TypeString, withDefault(strings.Repeat("x", MaxSettingLength+1))), "default is not valid: " + ReasonTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckDef(&tt.give)
			switch {
			case tt.want == "" && got != "":
				t.Errorf("CheckDef = %q, want valid", got)
			case tt.want != "" && got != tt.want:
				t.Errorf("CheckDef = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateSetting(t *testing.T) {
	choices := withChoices("C", "P", "T")
	tests := []struct {
		name  string
		def   SettingDef
		value string
		want  string
	}{
		// Booleans: exactly Python's str() of a bool.
		{"boolean True", def("B", TypeBoolean), "True", ""},
		{"boolean False", def("B", TypeBoolean), "False", ""},
		{"boolean lower case", def("B", TypeBoolean), "true", ReasonType},
		{"boolean 1", def("B", TypeBoolean), "1", ReasonType},
		{"boolean empty", def("B", TypeBoolean), "", ReasonType},

		// Integers: base 10, no sign on positives, no leading zeros.
		{"integer", def("I", TypeInteger), "42", ""},
		{"integer zero", def("I", TypeInteger), "0", ""},
		{"integer negative", def("I", TypeInteger), "-7", ""},
		{"integer int64 min", def("I", TypeInteger), "-9223372036854775808", ""},
		{"integer leading zero", def("I", TypeInteger), "01", ReasonType},
		{"integer plus sign", def("I", TypeInteger), "+1", ReasonType},
		{"integer minus zero", def("I", TypeInteger), "-0", ReasonType},
		{"integer with space", def("I", TypeInteger), " 1", ReasonType},
		{"integer as float", def("I", TypeInteger), "1.0", ReasonType},
		{"integer with underscore", def("I", TypeInteger), "1_000", ReasonType},
		{"integer hex", def("I", TypeInteger), "0x10", ReasonType},
		{"integer overflow", def("I", TypeInteger), "9223372036854775808", ReasonType},
		{"integer empty", def("I", TypeInteger), "", ReasonType},
		{"integer at min", def("I", TypeInteger, withRange(ptr(1.0), ptr(25.0))), "1", ""},
		{"integer at max", def("I", TypeInteger, withRange(ptr(1.0), ptr(25.0))), "25", ""},
		{"integer below min", def("I", TypeInteger, withRange(ptr(1.0), ptr(25.0))), "0", ReasonMin},
		{"integer far below min", def("I", TypeInteger, withRange(ptr(1.0), ptr(25.0))), "-5", ReasonMin},
		{"integer above max", def("I", TypeInteger, withRange(ptr(1.0), ptr(25.0))), "26", ReasonMax},
		{"integer bad and out of range", def("I", TypeInteger, withRange(ptr(1.0), nil)), "-01", ReasonType},

		// Floats and decimals: finite numbers.
		{"float", def("F", TypeFloat), "1.5", ""},
		{"float negative exponent", def("F", TypeFloat), "-2.5e-3", ""},
		{"float integer form", def("F", TypeFloat), "2", ""},
		{"float NaN", def("F", TypeFloat), "NaN", ReasonType},
		{"float nan", def("F", TypeFloat), "nan", ReasonType},
		{"float Inf", def("F", TypeFloat), "Inf", ReasonType},
		{"float +Inf", def("F", TypeFloat), "+Inf", ReasonType},
		{"float -Inf", def("F", TypeFloat), "-Inf", ReasonType},
		{"float infinity", def("F", TypeFloat), "infinity", ReasonType},
		{"float overflow", def("F", TypeFloat), "1e400", ReasonType},
		{"float with space", def("F", TypeFloat), "1.5 ", ReasonType},
		{"float empty", def("F", TypeFloat), "", ReasonType},
		{"float word", def("F", TypeFloat), "x", ReasonType},
		{"float below min", def("F", TypeFloat, withRange(ptr(1.0), nil)), "0.5", ReasonMin},
		{"float above max", def("F", TypeFloat, withRange(nil, ptr(1.0))), "1.0001", ReasonMax},
		{"decimal", def("D", TypeDecimal), "111.11", ""},
		{"decimal trailing zeros", def("D", TypeDecimal), "2.50", ""},
		{"decimal NaN", def("D", TypeDecimal), "NaN", ReasonType},
		{"decimal Inf", def("D", TypeDecimal), "Inf", ReasonType},
		{"decimal word", def("D", TypeDecimal), "zz", ReasonType},

		// Text.
		{"string", def("S", TypeString), "any text, é 日本", ""},
		{"string empty", def("S", TypeString), "", ""},
		{"string at the length limit", def("S", TypeString), strings.Repeat("x", MaxSettingLength), ""},
		{"string over the length limit", def("S", TypeString), strings.Repeat("x", MaxSettingLength+1), ReasonTooLong},
		{"long string", def("L", TypeLongString), "line 1\nline 2", ""},
		{"related id", def("R", TypeRelated), "17", ""},
		{"related empty", def("R", TypeRelated), "", ""},

		// Choices.
		{"choice", def("C", TypeChoice, choices), "P", ""},
		{"choice empty", def("C", TypeChoice, choices), "", ""},
		{"choice unknown", def("C", TypeChoice, choices), "Z", ReasonChoice},
		{"choice is case-sensitive", def("C", TypeChoice, choices), "p", ReasonChoice},
		{"choice display name is not a value", def("C", TypeChoice, choices), "PP", ReasonChoice},

		// Multiple choices: a sorted JSON array of known choices.
		{"multiple", def("M", TypeMultipleChoice, choices), `["C","P"]`, ""},
		{"multiple one", def("M", TypeMultipleChoice, choices), `["T"]`, ""},
		{"multiple empty array", def("M", TypeMultipleChoice, choices), `[]`, ""},
		{"multiple unsorted", def("M", TypeMultipleChoice, choices), `["P","C"]`, ReasonType},
		{"multiple unknown item", def("M", TypeMultipleChoice, choices), `["C","Z"]`, ReasonChoice},
		{"multiple null", def("M", TypeMultipleChoice, choices), `null`, ReasonType},
		{"multiple empty string", def("M", TypeMultipleChoice, choices), ``, ReasonType},
		{"multiple bare string", def("M", TypeMultipleChoice, choices), `"C"`, ReasonType},
		{"multiple comma list", def("M", TypeMultipleChoice, choices), `C,P`, ReasonType},
		{"multiple numbers", def("M", TypeMultipleChoice, choices), `[1,2]`, ReasonType},
		{"multiple object", def("M", TypeMultipleChoice, choices), `{"C":true}`, ReasonType},

		// Dates and times.
		{"date", def("D", TypeDate), "1998-09-04", ""},
		{"date leap day", def("D", TypeDate), "2020-02-29", ""},
		{"date not a leap year", def("D", TypeDate), "2021-02-29", ReasonType},
		{"date day/month/year", def("D", TypeDate), "29/02/2020", ReasonType},
		{"date one-digit month", def("D", TypeDate), "2020-2-03", ReasonType},
		{"date with time", def("D", TypeDate), "2020-02-03T00:00:00", ReasonType},
		{"date empty", def("D", TypeDate), "", ReasonType},
		{"datetime with offset", def("DT", TypeDateTime), "1992-05-04T03:04:10.000150+00:00", ""},
		{"datetime without fraction", def("DT", TypeDateTime), "2020-01-02T03:04:05-06:00", ""},
		{"datetime Z", def("DT", TypeDateTime), "2020-01-02T03:04:05Z", ""},
		{"datetime naive", def("DT", TypeDateTime), "2020-01-02T03:04:05", ReasonType},
		{"datetime space separator", def("DT", TypeDateTime), "2020-01-02 03:04:05+00:00", ReasonType},
		{"datetime date only", def("DT", TypeDateTime), "2020-01-02", ReasonType},
		{"datetime hour 24", def("DT", TypeDateTime), "2020-01-02T24:00:00Z", ReasonType},
		{"time", def("T", TypeTime), "08:00:00", ""},
		{"time with microseconds", def("T", TypeTime), "09:30:15.500000", ""},
		{"time without seconds", def("T", TypeTime), "09:30", ReasonType},
		{"time one-digit hour", def("T", TypeTime), "9:30:00", ReasonType},
		{"time short fraction", def("T", TypeTime), "09:30:15.5", ReasonType},
		{"time long fraction", def("T", TypeTime), "09:30:15.5000000", ReasonType},
		{"time letters in fraction", def("T", TypeTime), "09:30:15.50000x", ReasonType},
		{"time hour 24", def("T", TypeTime), "24:00:00", ReasonType},
		{"time minute 60", def("T", TypeTime), "10:60:00", ReasonType},
		{"time with offset", def("T", TypeTime), "10:00:00+01:00", ReasonType},
		{"duration", def("DU", TypeDuration), "03:00:00", ""},
		{"duration with days", def("DU", TypeDuration), "1 02:03:04", ""},
		{"duration negative days", def("DU", TypeDuration), "-1 23:00:00", ""},
		{"duration with microseconds", def("DU", TypeDuration), "00:00:01.000001", ""},
		{"duration days and microseconds", def("DU", TypeDuration), "10 00:00:00.250000", ""},
		{"duration ISO 8601", def("DU", TypeDuration), "P1DT2H", ReasonType},
		{"duration seconds", def("DU", TypeDuration), "3600", ReasonType},
		{"duration without seconds", def("DU", TypeDuration), "03:00", ReasonType},
		{"duration one-digit hour", def("DU", TypeDuration), "3:00:00", ReasonType},
		{"duration minute 60", def("DU", TypeDuration), "00:60:00", ReasonType},
		{"duration second 60", def("DU", TypeDuration), "00:00:60", ReasonType},
		{"duration short fraction", def("DU", TypeDuration), "00:00:01.5", ReasonType},
		{"duration days without time", def("DU", TypeDuration), "1 ", ReasonType},
		{"duration bad days", def("DU", TypeDuration), "x 01:00:00", ReasonType},
		{"duration Python's days form", def("DU", TypeDuration), "1 day, 2:03:04", ReasonType},
		{"duration empty", def("DU", TypeDuration), "", ReasonType},

		// Regex: the whole value must match.
		{"regex match", def("R", TypeString, withRegex(`[a-z]+`)), "abc", ""},
		{"regex partial match", def("R", TypeString, withRegex(`[a-z]+`)), "abc1", ReasonRegex},
		{"regex alternation is grouped", def("R", TypeString, withRegex(`a|b`)), "ab", ReasonRegex},
		{"regex alternation", def("R", TypeString, withRegex(`a|b`)), "b", ""},
		{"regex on an integer", def("R", TypeInteger, withRegex(`[0-9]{2}`)), "123", ReasonRegex},
		{"regex empty value", def("R", TypeString, withRegex(`[a-z]+`)), "", ReasonRegex},
		{"type checked before regex", def("R", TypeInteger, withRegex(`.*`)), "x", ReasonType},

		// Named validators.
		{"currency codes", def("CC", TypeString, withValidator("currency_codes")), "AUD,USD,GBP", ""},
		{"currency codes lower case", def("CC", TypeString, withValidator("currency_codes")), "aud, usd", ""},
		{"currency codes invalid", def("CC", TypeString, withValidator("currency_codes")), "USD,XYZ", ReasonValidator},
		{"currency codes duplicate", def("CC", TypeString, withValidator("currency_codes")), "AUD,USD, AUD,AUD,", ReasonValidator},
		{"currency codes none", def("CC", TypeString, withValidator("currency_codes")), ",,,,,", ReasonValidator},
		{"currency codes empty", def("CC", TypeString, withValidator("currency_codes")), "", ReasonValidator},
		{"url empty", def("U", TypeString, withValidator("url")), "", ""},
		{"url http", def("U", TypeString, withValidator("url")), "http://localhost", ""},
		{"url https", def("U", TypeString, withValidator("url")), "https://inventree", ""},
		{"url localhost with port", def("U", TypeString, withValidator("url")), "http://localhost:8000", ""},
		{"url without scheme", def("U", TypeString, withValidator("url")), "localhost:8000", ReasonValidator},
		{"url without scheme", def("U", TypeString, withValidator("url")), "inventree", ReasonValidator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := CheckDef(&tt.def); why != "" {
				t.Fatalf("fixture definition refused: %s", why)
			}
			if got := ValidateSetting(&tt.def, tt.value); got != tt.want {
				t.Errorf("ValidateSetting(%s, %q) = %q, want %q", tt.def.Type, tt.value, got, tt.want)
			}
		})
	}
}

// An unknown type refuses every value, even one a definition never holds
// because CheckDef refuses it first.
func TestValidateSettingUnknownType(t *testing.T) {
	d := def("X", "bool")
	for _, v := range []string{"", "True", "1"} {
		if got := ValidateSetting(&d, v); got != ReasonType {
			t.Errorf("ValidateSetting(%q) = %q, want %q", v, got, ReasonType)
		}
	}
}

// CheckCurrencyCodes answers with InvenTree's own messages.
func TestCheckCurrencyCodes(t *testing.T) {
	tests := []struct {
		give, want string
	}{
		{"USD,XYZ", "Invalid currency code: 'XYZ'"},
		{"AUD,USD, AUD,AUD,", "Duplicate currency code: 'AUD'"},
		{",,,,,", "No valid currency codes provided"},
		{"AUD,USD,GBP", ""},
		{"AUD,CAD,CNY,EUR,GBP,JPY,NZD,USD", ""},
		{"usd", ""},
		{" eur , gbp ", ""},
		{"usd,USD", "Duplicate currency code: 'USD'"},
		{"xyz,USD", "Invalid currency code: 'XYZ'"},
		{"US", "Invalid currency code: 'US'"},
		{"USD,XYZ,USD", "Invalid currency code: 'XYZ'"},
		{"USD,USD,XYZ", "Duplicate currency code: 'USD'"},
		{"", "No valid currency codes provided"},
		{" ", "No valid currency codes provided"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := CheckCurrencyCodes(tt.give); got != tt.want {
				t.Errorf("CheckCurrencyCodes(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

// catalogKeys lists a registry and scope's keys with their ids, in
// catalogue order.
func catalogKeys(s *State, r Registry, sc Scope) []string {
	var out []string
	for _, d := range s.Catalog(r, sc) {
		out = append(out, d.Key)
	}
	return out
}

// defID returns a definition's id, or 0 if it is not defined.
func defID(s *State, r Registry, sc Scope, key string) uint64 {
	d, ok := s.SettingDef(r, sc, key)
	if !ok {
		return 0
	}
	return d.ID
}

func TestPutCatalogAssignsIDsInOrder(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice") // id 1: definitions share the id counter
	res := h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("ZETA", TypeBoolean, withDefault("True")),
		def("ALPHA", TypeInteger, withDefault("3")),
		def("MID", TypeString, inScope(RegistryInvenTree, ScopeUser)),
		def("ALPHA", TypeString, inScope(RegistryDynPrefs, ScopeGlobal)),
	}})
	if res.ID != 1 {
		t.Errorf("Result.ID = %d, want the catalogue version 1", res.ID)
	}
	s := h.state()
	if s.CatalogVersion() != 1 {
		t.Errorf("CatalogVersion = %d, want 1", s.CatalogVersion())
	}
	want := map[string]uint64{"ZETA": alice + 1, "ALPHA": alice + 2}
	for k, id := range want {
		if got := defID(s, RegistryInvenTree, ScopeGlobal, k); got != id {
			t.Errorf("id of %s = %d, want %d", k, got, id)
		}
	}
	if got := defID(s, RegistryInvenTree, ScopeUser, "MID"); got != alice+3 {
		t.Errorf("id of user MID = %d, want %d", got, alice+3)
	}
	if got := defID(s, RegistryDynPrefs, ScopeGlobal, "ALPHA"); got != alice+4 {
		t.Errorf("id of dynprefs ALPHA = %d, want %d", got, alice+4)
	}
	// Catalog lists in definition order, not key order.
	if got := catalogKeys(s, RegistryInvenTree, ScopeGlobal); !slices.Equal(got, []string{"ZETA", "ALPHA"}) {
		t.Errorf("Catalog(inventree, global) = %v, want [ZETA ALPHA]", got)
	}
	if got := len(s.CatalogAll()); got != 4 {
		t.Errorf("len(CatalogAll) = %d, want 4", got)
	}
	if got := catalogKeys(s, RegistryInvenTree, ScopeNotification); got != nil {
		t.Errorf("Catalog(inventree, notification) = %v, want none", got)
	}
	// The next user gets the id after the definitions.
	if bob := h.user("bob"); bob != alice+5 {
		t.Errorf("bob's id = %d, want %d", bob, alice+5)
	}
	d, _ := s.SettingDef(RegistryInvenTree, ScopeGlobal, "ALPHA")
	if d.Type != TypeInteger || d.Default != "3" {
		t.Errorf("SettingDef(ALPHA) = %+v", d)
	}
}

func TestPutCatalogRedefinitionKeepsIDs(t *testing.T) {
	h := newHarness(t)
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("A", TypeBoolean, withDefault("True")),
		def("B", TypeInteger, withDefault("3")),
	}})
	s1 := h.state()
	idA, idB := defID(s1, RegistryInvenTree, ScopeGlobal, "A"), defID(s1, RegistryInvenTree, ScopeGlobal, "B")

	// B comes first now and changes; C is new. A is untouched.
	res := h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("B", TypeInteger, withDefault("5"), withRange(ptr(1.0), nil)),
		def("C", TypeString),
	}})
	if res.ID != 2 {
		t.Errorf("Result.ID = %d, want version 2", res.ID)
	}
	s := h.state()
	if s.CatalogVersion() != 2 {
		t.Errorf("CatalogVersion = %d, want 2", s.CatalogVersion())
	}
	if got := defID(s, RegistryInvenTree, ScopeGlobal, "A"); got != idA {
		t.Errorf("A's id = %d, want %d", got, idA)
	}
	b, _ := s.SettingDef(RegistryInvenTree, ScopeGlobal, "B")
	if b.ID != idB || b.Default != "5" || b.Min == nil || *b.Min != 1 {
		t.Errorf("B = %+v, want id %d with the new default and min", b, idB)
	}
	if got := defID(s, RegistryInvenTree, ScopeGlobal, "C"); got != idB+1 {
		t.Errorf("C's id = %d, want %d", got, idB+1)
	}
	if got := catalogKeys(s, RegistryInvenTree, ScopeGlobal); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Errorf("Catalog = %v, want [A B C] (first-definition order)", got)
	}
	// The older state still holds the old definition.
	if old, _ := s1.SettingDef(RegistryInvenTree, ScopeGlobal, "B"); old.Default != "3" {
		t.Errorf("the published state changed: B = %+v", old)
	}
	// Ids sent in the command are ignored.
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{func() SettingDef {
		d := def("A", TypeBoolean)
		d.ID = 999
		return d
	}()}})
	if got := defID(h.state(), RegistryInvenTree, ScopeGlobal, "A"); got != idA {
		t.Errorf("A's id = %d after a command carrying id 999, want %d", got, idA)
	}
}

func TestPutCatalogReplace(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice")
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("KEEP", TypeString),
		def("DROP", TypeInteger, withDefault("1")),
		def("UDROP", TypeBoolean, inScope(RegistryInvenTree, ScopeUser)),
		def("d__drop", TypeString, inScope(RegistryDynPrefs, ScopeGlobal)),
	}})
	idKeep := defID(h.state(), RegistryInvenTree, ScopeGlobal, "KEEP")
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal,
		Values: []KV{{Key: "KEEP", Value: "k"}, {Key: "DROP", Value: "7"}}})
	h.ok(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeUser, UserID: alice,
		Values: []KV{{Key: "UDROP", Value: "True"}}})

	res := h.ok(CmdPutCatalog, PutCatalog{Replace: true, Defs: []SettingDef{
		def("KEEP", TypeString, withDefault("x")),
		def("NEW", TypeBoolean),
	}})
	if res.ID != 2 {
		t.Errorf("Result.ID = %d, want version 2", res.ID)
	}
	s := h.state()
	var all []string
	for _, d := range s.CatalogAll() {
		all = append(all, string(d.Registry)+"/"+string(d.Scope)+"/"+d.Key)
	}
	if want := []string{"inventree/global/KEEP", "inventree/global/NEW"}; !slices.Equal(all, want) {
		t.Errorf("CatalogAll = %v, want %v", all, want)
	}
	if got := defID(s, RegistryInvenTree, ScopeGlobal, "KEEP"); got != idKeep {
		t.Errorf("KEEP's id = %d, want %d", got, idKeep)
	}
	if _, ok := s.SettingDef(RegistryInvenTree, ScopeGlobal, "DROP"); ok {
		t.Error("DROP is still defined")
	}
	// Values under removed definitions are kept and still listed.
	if got, want := s.Settings(0, RegistryInvenTree, ScopeGlobal), []KV{{"DROP", "7"}, {"KEEP", "k"}}; !slices.Equal(got, want) {
		t.Errorf("Settings(global) = %v, want %v", got, want)
	}
	if got, want := s.Settings(alice, RegistryInvenTree, ScopeUser), []KV{{"UDROP", "True"}}; !slices.Equal(got, want) {
		t.Errorf("Settings(alice) = %v, want %v", got, want)
	}
	if v, ok := s.Setting(0, RegistryInvenTree, ScopeGlobal, "DROP"); !ok || v != "7" {
		t.Errorf("Setting(DROP) = %q, %v, want 7", v, ok)
	}
	// An obsolete key cannot be written.
	res = h.do(CmdSetSettings, SetSettings{Registry: RegistryInvenTree, Scope: ScopeGlobal, Values: []KV{{Key: "DROP", Value: "8"}}})
	checkErrExact(t, res.Err, &Error{Code: ErrSettingUnknown.Code, Key: "DROP"})
	// Defined again, it gets a new id and its old value shows again.
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{def("DROP", TypeInteger)}})
	s = h.state()
	if id := defID(s, RegistryInvenTree, ScopeGlobal, "DROP"); id <= defID(s, RegistryInvenTree, ScopeGlobal, "NEW") {
		t.Errorf("DROP defined again has id %d, want a new one", id)
	}
	if v, _ := s.Setting(0, RegistryInvenTree, ScopeGlobal, "DROP"); v != "7" {
		t.Errorf("Setting(DROP) = %q, want the kept 7", v)
	}
	if s.CatalogVersion() != 3 {
		t.Errorf("CatalogVersion = %d, want 3", s.CatalogVersion())
	}
	// Replace with nothing empties the catalogue and still counts.
	h.ok(CmdPutCatalog, PutCatalog{Replace: true})
	if n := len(h.state().CatalogAll()); n != 0 || h.state().CatalogVersion() != 4 {
		t.Errorf("after an empty replace: %d definitions, version %d; want 0, 4", n, h.state().CatalogVersion())
	}
	checkInvariants(t, h.state())
}

// A command with any bad definition is refused whole: nothing is added,
// replaced, removed or numbered, and the version stays.
func TestPutCatalogRefusedWhole(t *testing.T) {
	base := []SettingDef{
		def("A", TypeBoolean, withDefault("True")),
		def("B", TypeInteger, withDefault("3")),
	}
	tests := []struct {
		name string
		give PutCatalog
		want *Error
	}{
		{"bad type after a good one", PutCatalog{Defs: []SettingDef{def("NEW", TypeString), def("BAD", "bool")}},
			&Error{Code: ErrSettingInvalid.Code, Key: "BAD", Reason: ReasonBadDef + `: unknown type "bool"`}},
		{"bad default of a redefinition", PutCatalog{Defs: []SettingDef{def("B", TypeInteger, withDefault("x"))}},
			&Error{Code: ErrSettingInvalid.Code, Key: "B", Reason: ReasonBadDef + ": default is not valid: " + ReasonType}},
		{"bad definition with replace", PutCatalog{Replace: true, Defs: []SettingDef{def("A", TypeBoolean), def("C", TypeChoice)}},
			&Error{Code: ErrSettingInvalid.Code, Key: "C", Reason: ReasonBadDef + ": a choice setting needs choices"}},
		{"empty key", PutCatalog{Defs: []SettingDef{def("", TypeString)}},
			&Error{Code: ErrSettingInvalid.Code, Reason: ReasonBadDef + ": a key of 1 to 150 bytes is required"}},
		{"defined twice", PutCatalog{Defs: []SettingDef{def("D", TypeString), def("E", TypeString), def("D", TypeBoolean)}},
			&Error{Code: ErrSettingInvalid.Code, Key: "D", Reason: ReasonBadDef + ": defined twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.ok(CmdPutCatalog, PutCatalog{Defs: base})
			before := h.state()
			res := h.do(CmdPutCatalog, tt.give)
			checkErrExact(t, res.Err, tt.want)
			after := h.state()
			checkUnchanged(t, before, after)
			if after.CatalogVersion() != 1 {
				t.Errorf("CatalogVersion = %d, want 1", after.CatalogVersion())
			}
			// No id was used up: the next definition gets the next id.
			h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{def("NEXT", TypeString)}})
			if got := defID(h.state(), RegistryInvenTree, ScopeGlobal, "NEXT"); got != 3 {
				t.Errorf("next id = %d, want 3", got)
			}
		})
	}
}

// The same key in another registry or scope is another definition.
func TestPutCatalogSameKeyElsewhere(t *testing.T) {
	h := newHarness(t)
	h.ok(CmdPutCatalog, PutCatalog{Defs: []SettingDef{
		def("K", TypeBoolean),
		def("K", TypeInteger, inScope(RegistryInvenTree, ScopeUser)),
		def("K", TypeString, inScope(RegistryInvenTree, ScopeNotification)),
		def("K", TypeDate, inScope(RegistryDynPrefs, ScopeGlobal)),
		def("K", TypeTime, inScope(RegistryDynPrefs, ScopeUser)),
	}})
	s := h.state()
	for _, c := range []struct {
		r  Registry
		sc Scope
		t  SettingType
	}{
		{RegistryInvenTree, ScopeGlobal, TypeBoolean}, {RegistryInvenTree, ScopeUser, TypeInteger},
		{RegistryInvenTree, ScopeNotification, TypeString}, {RegistryDynPrefs, ScopeGlobal, TypeDate},
		{RegistryDynPrefs, ScopeUser, TypeTime},
	} {
		d, ok := s.SettingDef(c.r, c.sc, "K")
		if !ok || d.Type != c.t {
			t.Errorf("SettingDef(%s, %s, K) = %+v, %v; want type %s", c.r, c.sc, d, ok, c.t)
		}
		if got := catalogKeys(s, c.r, c.sc); !slices.Equal(got, []string{"K"}) {
			t.Errorf("Catalog(%s, %s) = %v, want [K]", c.r, c.sc, got)
		}
	}
}

// Values that are not the canonical form of their type, or that the
// product refuses, are refused.
func TestValidateSettingNonCanonical(t *testing.T) {
	tests := []struct {
		name  string
		def   SettingDef
		value string
		want  string
		gap   string
	}{
		{"float hex", def("F", TypeFloat), "0x1p-2", ReasonType,
			"strconv.ParseFloat reads Go's hexadecimal floats; Python's float() and Decimal() refuse them"},
		{"decimal hex", def("D", TypeDecimal), "0x1p-2", ReasonType,
			"strconv.ParseFloat reads Go's hexadecimal floats; Python's Decimal() refuses them"},
		{"url ftp", def("U", TypeString, withValidator("url")), "ftp://inventree", ReasonValidator,
			"InvenTree's BaseURLValidator refuses ftp://inventree (research notes, common/setting/tests.py); the url check accepts any scheme"},
		{"url without host", def("U", TypeString, withValidator("url")), "http://", ReasonValidator,
			"the url check only looks for ://"},
		{"multiple choice duplicates", def("M", TypeMultipleChoice, withChoices("a", "b")), `["a","a"]`, ReasonType,
			"a stored multiple choice is a set; duplicates are not canonical"},
		{"multiple choice spacing", def("M", TypeMultipleChoice, withChoices("a", "b")), `["a", "b"]`, ReasonType,
			"the canonical form is compact JSON, so two spellings of one value are stored"},
		{"duration hour 24 with days", def("DU", TypeDuration), "1 24:00:00", ReasonType,
			"Django writes 2 00:00:00; hours run 00-23 once days are given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateSetting(&tt.def, tt.value); got != tt.want {
				t.Fatalf("ValidateSetting(%q) = %q, want %q: %s", tt.value, got, tt.want, tt.gap)
			}
		})
	}
}
