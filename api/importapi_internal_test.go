package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/prefsd/prefsd/fsm"
)

func TestImportDecode(t *testing.T) {
	min1 := 1.0
	dynDef := func(typ fsm.SettingType) *fsm.SettingDef {
		return &fsm.SettingDef{Registry: fsm.RegistryDynPrefs, Scope: fsm.ScopeGlobal, Key: "s__k", Type: typ,
			Choices: []fsm.Choice{{Value: "a"}, {Value: "b"}, {Value: "c,d"}}}
	}
	itDef := func(typ fsm.SettingType) *fsm.SettingDef {
		return &fsm.SettingDef{Registry: fsm.RegistryInvenTree, Scope: fsm.ScopeGlobal, Key: "K", Type: typ}
	}
	itInt := itDef(fsm.TypeInteger)
	itInt.Min = &min1
	itChoice := itDef(fsm.TypeChoice)
	itChoice.Choices = []fsm.Choice{{Value: "YYYY-MM-DD"}, {Value: "DD/MM/YYYY"}}
	itCurrency := itDef(fsm.TypeString)
	itCurrency.Validator = "currency_codes"

	tests := []struct {
		name string
		def  *fsm.SettingDef
		raw  string
		want string // canonical form; "" with why set means refused
		why  string // part of the reason, when refused
	}{
		// django-dynamic-preferences: the serializers' stored forms.
		{"dyn boolean True", dynDef(fsm.TypeBoolean), "True", "True", ""},
		{"dyn boolean yes", dynDef(fsm.TypeBoolean), "yes", "True", ""},
		{"dyn boolean 0", dynDef(fsm.TypeBoolean), "0", "False", ""},
		{"dyn boolean NO", dynDef(fsm.TypeBoolean), "NO", "False", ""},
		{"dyn boolean garbage", dynDef(fsm.TypeBoolean), "maybe", "", "not a stored boolean"},
		{"dyn boolean NULL", dynDef(fsm.TypeBoolean), "", "", "not a stored boolean"},
		{"dyn integer", dynDef(fsm.TypeInteger), "150", "150", ""},
		{"dyn integer with spaces and a sign", dynDef(fsm.TypeInteger), " +0150 ", "150", ""},
		{"dyn integer beyond int64", dynDef(fsm.TypeInteger), "12345678901234567890", "", "less than or equal"},
		{"dyn integer NULL", dynDef(fsm.TypeInteger), "", "", "required"},
		{"dyn integer text", dynDef(fsm.TypeInteger), "ten", "", "whole number"},
		{"dyn decimal keeps its digits", dynDef(fsm.TypeDecimal), "111.10", "111.10", ""},
		{"dyn decimal NaN", dynDef(fsm.TypeDecimal), "NaN", "", "number"},
		{"dyn float", dynDef(fsm.TypeFloat), "2.0", "2.0", ""},
		{"dyn float exponent", dynDef(fsm.TypeFloat), "1e+20", "1e+20", ""},
		{"dyn string kept as stored", dynDef(fsm.TypeString), "  padded  ", "  padded  ", ""},
		{"dyn string NULL", dynDef(fsm.TypeLongString), "", "", ""},
		{"dyn string too long", dynDef(fsm.TypeString), strings.Repeat("x", fsm.MaxSettingLength+1), "", "at most 2000 bytes"},
		{"dyn choice", dynDef(fsm.TypeChoice), "b", "b", ""},
		{"dyn choice empty", dynDef(fsm.TypeChoice), "", "", ""},
		{"dyn choice unknown", dynDef(fsm.TypeChoice), "z", "", "Select a valid choice. z"},
		{"dyn multiple", dynDef(fsm.TypeMultipleChoice), "a,b", `["a","b"]`, ""},
		{"dyn multiple unsorted", dynDef(fsm.TypeMultipleChoice), "b,a", `["a","b"]`, ""},
		{"dyn multiple doubled comma", dynDef(fsm.TypeMultipleChoice), "a,c,,d", `["a","c,d"]`, ""},
		{"dyn multiple NULL", dynDef(fsm.TypeMultipleChoice), "", `[]`, ""},
		{"dyn multiple bad item", dynDef(fsm.TypeMultipleChoice), "a,z", "", "Select a valid choice. z"},
		{"dyn multiple trailing comma", dynDef(fsm.TypeMultipleChoice), "a,", "", "not a stored list"},
		{"dyn related", dynDef(fsm.TypeRelated), "12", "12", ""},
		{"dyn related NULL", dynDef(fsm.TypeRelated), "", "", ""},
		{"dyn date", dynDef(fsm.TypeDate), "2001-02-03", "2001-02-03", ""},
		{"dyn date bad", dynDef(fsm.TypeDate), "2001-02-30", "", "valid date"},
		{"dyn datetime with offset", dynDef(fsm.TypeDateTime), "2020-01-02T03:04:05.000150-06:00", "2020-01-02T03:04:05.000150-06:00", ""},
		{"dyn datetime naive is UTC", dynDef(fsm.TypeDateTime), "2020-01-02T03:04:05", "2020-01-02T03:04:05+00:00", ""},
		{"dyn time", dynDef(fsm.TypeTime), "09:30:00", "09:30:00", ""},
		{"dyn time with microseconds", dynDef(fsm.TypeTime), "09:30:00.500000", "09:30:00.500000", ""},
		{"dyn duration", dynDef(fsm.TypeDuration), "1 02:03:04", "1 02:03:04", ""},
		{"dyn duration ISO", dynDef(fsm.TypeDuration), "P1DT02H03M04S", "1 02:03:04", ""},
		{"dyn duration bad", dynDef(fsm.TypeDuration), "soon", "", "valid duration"},

		// InvenTree: str() of the value clean() accepted, read back by it.
		{"it boolean", itDef(fsm.TypeBoolean), "True", "True", ""},
		{"it boolean truthy word", itDef(fsm.TypeBoolean), "yes", "True", ""},
		{"it boolean anything else", itDef(fsm.TypeBoolean), "x", "False", ""},
		{"it integer", itInt, "30", "30", ""},
		{"it integer below min", itInt, "0", "", "greater than or equal to 1"},
		{"it integer text", itInt, "ten", "", "not a valid integer"},
		{"it choice", itChoice, "DD/MM/YYYY", "DD/MM/YYYY", ""},
		{"it choice unknown", itChoice, "cat", "", "not a valid option"},
		{"it currency codes", itCurrency, "AUD,USD,GBP", "AUD,USD,GBP", ""},
		{"it currency codes bad", itCurrency, "USD,XYZ", "", "Invalid currency code: 'XYZ'"},
		{"it string too long", itDef(fsm.TypeString), strings.Repeat("x", 2001), "", "no more than 2000 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := importDecode(tt.def, tt.raw)
			if got != tt.want || (tt.why == "") != (why == "") || !strings.Contains(why, tt.why) {
				t.Errorf("importDecode(%q) = %q, %q; want %q, a reason containing %q", tt.raw, got, why, tt.want, tt.why)
			}
			if why == "" {
				if r := fsm.ValidateSetting(tt.def, got); r != "" {
					t.Errorf("the canonical form %q is refused by the catalogue: %s", got, r)
				}
			}
		})
	}
}

func TestDynSplitStored(t *testing.T) {
	tests := []struct {
		raw  string
		want []string // nil: refused
	}{
		{"", []string{}},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		// The serializer doubles commas inside values before joining.
		{"a,,b", []string{"a,b"}},
		{"a,,,b", []string{"a,", "b"}},
		{"x,a,,b,y", []string{"x", "a,b", "y"}},
		{",a", nil},
		{"a,", nil},
	}
	for _, tt := range tests {
		got, ok := dynSplitStored(tt.raw)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("dynSplitStored(%q) = %q, %v; want %q", tt.raw, got, ok, tt.want)
		}
	}
}
