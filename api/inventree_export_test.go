package api

// InvenTreeObsoletePK exposes the pk of an obsolete InvenTree setting to the
// tests.
func InvenTreeObsoletePK(userID uint64, key string) uint64 { return itObsolete(userID, key) }
