// Code generated from iso-codes 4.15.0 (ISO 4217); DO NOT EDIT.

package fsm

// isoCurrency reports whether code is an ISO 4217 currency code.
func isoCurrency(code string) bool {
	switch code {
	case "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
		"BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP",
		"BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU",
		"CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
		"EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
		"HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
		"JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
		"LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
		"MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
		"NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
		"RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS",
		"SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
		"TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED",
		"VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD",
		"XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW",
		"ZWL":
		return true
	}
	return false
}

// CurrencyName returns the English name of an ISO 4217 currency code.
func CurrencyName(code string) string {
	switch code {
	case "AED":
		return "UAE Dirham"
	case "AFN":
		return "Afghani"
	case "ALL":
		return "Lek"
	case "AMD":
		return "Armenian Dram"
	case "ANG":
		return "Netherlands Antillean Guilder"
	case "AOA":
		return "Kwanza"
	case "ARS":
		return "Argentine Peso"
	case "AUD":
		return "Australian Dollar"
	case "AWG":
		return "Aruban Florin"
	case "AZN":
		return "Azerbaijan Manat"
	case "BAM":
		return "Convertible Mark"
	case "BBD":
		return "Barbados Dollar"
	case "BDT":
		return "Taka"
	case "BGN":
		return "Bulgarian Lev"
	case "BHD":
		return "Bahraini Dinar"
	case "BIF":
		return "Burundi Franc"
	case "BMD":
		return "Bermudian Dollar"
	case "BND":
		return "Brunei Dollar"
	case "BOB":
		return "Boliviano"
	case "BOV":
		return "Mvdol"
	case "BRL":
		return "Brazilian Real"
	case "BSD":
		return "Bahamian Dollar"
	case "BTN":
		return "Ngultrum"
	case "BWP":
		return "Pula"
	case "BYN":
		return "Belarusian Ruble"
	case "BZD":
		return "Belize Dollar"
	case "CAD":
		return "Canadian Dollar"
	case "CDF":
		return "Congolese Franc"
	case "CHE":
		return "WIR Euro"
	case "CHF":
		return "Swiss Franc"
	case "CHW":
		return "WIR Franc"
	case "CLF":
		return "Unidad de Fomento"
	case "CLP":
		return "Chilean Peso"
	case "CNY":
		return "Yuan Renminbi"
	case "COP":
		return "Colombian Peso"
	case "COU":
		return "Unidad de Valor Real"
	case "CRC":
		return "Costa Rican Colon"
	case "CUC":
		return "Peso Convertible"
	case "CUP":
		return "Cuban Peso"
	case "CVE":
		return "Cabo Verde Escudo"
	case "CZK":
		return "Czech Koruna"
	case "DJF":
		return "Djibouti Franc"
	case "DKK":
		return "Danish Krone"
	case "DOP":
		return "Dominican Peso"
	case "DZD":
		return "Algerian Dinar"
	case "EGP":
		return "Egyptian Pound"
	case "ERN":
		return "Nakfa"
	case "ETB":
		return "Ethiopian Birr"
	case "EUR":
		return "Euro"
	case "FJD":
		return "Fiji Dollar"
	case "FKP":
		return "Falkland Islands Pound"
	case "GBP":
		return "Pound Sterling"
	case "GEL":
		return "Lari"
	case "GHS":
		return "Ghana Cedi"
	case "GIP":
		return "Gibraltar Pound"
	case "GMD":
		return "Dalasi"
	case "GNF":
		return "Guinean Franc"
	case "GTQ":
		return "Quetzal"
	case "GYD":
		return "Guyana Dollar"
	case "HKD":
		return "Hong Kong Dollar"
	case "HNL":
		return "Lempira"
	case "HRK":
		return "Kuna"
	case "HTG":
		return "Gourde"
	case "HUF":
		return "Forint"
	case "IDR":
		return "Rupiah"
	case "ILS":
		return "New Israeli Sheqel"
	case "INR":
		return "Indian Rupee"
	case "IQD":
		return "Iraqi Dinar"
	case "IRR":
		return "Iranian Rial"
	case "ISK":
		return "Iceland Krona"
	case "JMD":
		return "Jamaican Dollar"
	case "JOD":
		return "Jordanian Dinar"
	case "JPY":
		return "Yen"
	case "KES":
		return "Kenyan Shilling"
	case "KGS":
		return "Som"
	case "KHR":
		return "Riel"
	case "KMF":
		return "Comorian Franc"
	case "KPW":
		return "North Korean Won"
	case "KRW":
		return "Won"
	case "KWD":
		return "Kuwaiti Dinar"
	case "KYD":
		return "Cayman Islands Dollar"
	case "KZT":
		return "Tenge"
	case "LAK":
		return "Lao Kip"
	case "LBP":
		return "Lebanese Pound"
	case "LKR":
		return "Sri Lanka Rupee"
	case "LRD":
		return "Liberian Dollar"
	case "LSL":
		return "Loti"
	case "LYD":
		return "Libyan Dinar"
	case "MAD":
		return "Moroccan Dirham"
	case "MDL":
		return "Moldovan Leu"
	case "MGA":
		return "Malagasy Ariary"
	case "MKD":
		return "Denar"
	case "MMK":
		return "Kyat"
	case "MNT":
		return "Tugrik"
	case "MOP":
		return "Pataca"
	case "MRU":
		return "Ouguiya"
	case "MUR":
		return "Mauritius Rupee"
	case "MVR":
		return "Rufiyaa"
	case "MWK":
		return "Malawi Kwacha"
	case "MXN":
		return "Mexican Peso"
	case "MXV":
		return "Mexican Unidad de Inversion (UDI)"
	case "MYR":
		return "Malaysian Ringgit"
	case "MZN":
		return "Mozambique Metical"
	case "NAD":
		return "Namibia Dollar"
	case "NGN":
		return "Naira"
	case "NIO":
		return "Cordoba Oro"
	case "NOK":
		return "Norwegian Krone"
	case "NPR":
		return "Nepalese Rupee"
	case "NZD":
		return "New Zealand Dollar"
	case "OMR":
		return "Rial Omani"
	case "PAB":
		return "Balboa"
	case "PEN":
		return "Sol"
	case "PGK":
		return "Kina"
	case "PHP":
		return "Philippine Peso"
	case "PKR":
		return "Pakistan Rupee"
	case "PLN":
		return "Zloty"
	case "PYG":
		return "Guarani"
	case "QAR":
		return "Qatari Rial"
	case "RON":
		return "Romanian Leu"
	case "RSD":
		return "Serbian Dinar"
	case "RUB":
		return "Russian Ruble"
	case "RWF":
		return "Rwanda Franc"
	case "SAR":
		return "Saudi Riyal"
	case "SBD":
		return "Solomon Islands Dollar"
	case "SCR":
		return "Seychelles Rupee"
	case "SDG":
		return "Sudanese Pound"
	case "SEK":
		return "Swedish Krona"
	case "SGD":
		return "Singapore Dollar"
	case "SHP":
		return "Saint Helena Pound"
	case "SLE":
		return "Leone"
	case "SLL":
		return "Leone"
	case "SOS":
		return "Somali Shilling"
	case "SRD":
		return "Surinam Dollar"
	case "SSP":
		return "South Sudanese Pound"
	case "STN":
		return "Dobra"
	case "SVC":
		return "El Salvador Colon"
	case "SYP":
		return "Syrian Pound"
	case "SZL":
		return "Lilangeni"
	case "THB":
		return "Baht"
	case "TJS":
		return "Somoni"
	case "TMT":
		return "Turkmenistan New Manat"
	case "TND":
		return "Tunisian Dinar"
	case "TOP":
		return "Pa\u2019anga"
	case "TRY":
		return "Turkish Lira"
	case "TTD":
		return "Trinidad and Tobago Dollar"
	case "TWD":
		return "New Taiwan Dollar"
	case "TZS":
		return "Tanzanian Shilling"
	case "UAH":
		return "Hryvnia"
	case "UGX":
		return "Uganda Shilling"
	case "USD":
		return "US Dollar"
	case "USN":
		return "US Dollar (Next day)"
	case "UYI":
		return "Uruguay Peso en Unidades Indexadas (UI)"
	case "UYU":
		return "Peso Uruguayo"
	case "UYW":
		return "Unidad Previsional"
	case "UZS":
		return "Uzbekistan Sum"
	case "VED":
		return "Bol\u00edvar Soberano"
	case "VES":
		return "Bol\u00edvar Soberano"
	case "VND":
		return "Dong"
	case "VUV":
		return "Vatu"
	case "WST":
		return "Tala"
	case "XAF":
		return "CFA Franc BEAC"
	case "XAG":
		return "Silver"
	case "XAU":
		return "Gold"
	case "XBA":
		return "Bond Markets Unit European Composite Unit (EURCO)"
	case "XBB":
		return "Bond Markets Unit European Monetary Unit (E.M.U.-6)"
	case "XBC":
		return "Bond Markets Unit European Unit of Account 9 (E.U.A.-9)"
	case "XBD":
		return "Bond Markets Unit European Unit of Account 17 (E.U.A.-17)"
	case "XCD":
		return "East Caribbean Dollar"
	case "XDR":
		return "SDR (Special Drawing Right)"
	case "XOF":
		return "CFA Franc BCEAO"
	case "XPD":
		return "Palladium"
	case "XPF":
		return "CFP Franc"
	case "XPT":
		return "Platinum"
	case "XSU":
		return "Sucre"
	case "XTS":
		return "Codes specifically reserved for testing purposes"
	case "XUA":
		return "ADB Unit of Account"
	case "XXX":
		return "The codes assigned for transactions where no currency is involved"
	case "YER":
		return "Yemeni Rial"
	case "ZAR":
		return "Rand"
	case "ZMW":
		return "Zambian Kwacha"
	case "ZWL":
		return "Zimbabwe Dollar"
	}
	return ""
}
