package fsm

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/hashicorp/raft"
)

// cmdGen generates pseudo-random log entries covering every command type,
// with ids, names, keys and digests drawn from small pools so that commands
// collide, refer to each other and hit quota limits often.
type cmdGen struct {
	r   *rand.Rand
	ids uint64 // an upper bound on the ids allocated so far
	idx uint64
}

func newCmdGen(seed uint64) *cmdGen {
	return &cmdGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var (
	genNames = []string{"alice", "bob", "carol", "dave", "eve", "émile", "admin"}
	genKeys  = []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "theme", "é", "日本", "a/b", "k10", "k1x"}
	genRunes = []rune("abcxyz é日本😀<&\"\\\n")
	genNodes = []string{"n1", "n2", "n3", "N1"}
)

func (g *cmdGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *cmdGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *cmdGen) id() uint64 { return g.r.Uint64N(g.ids + 3) }

func (g *cmdGen) name() string {
	n := g.pick(genNames)
	switch g.r.IntN(4) {
	case 0:
		n = strings.ToUpper(n)
	case 1:
		n = strings.ToUpper(n[:1]) + n[1:]
	}
	if g.chance(0.4) {
		n += fmt.Sprint(g.r.IntN(20))
	}
	return n
}

func (g *cmdGen) key() string {
	if g.chance(0.05) {
		return strings.Repeat("K", 1+g.r.IntN(14))
	}
	if g.chance(0.01) {
		return ""
	}
	return g.pick(genKeys)
}

func (g *cmdGen) value() string {
	n := g.r.IntN(26)
	if g.chance(0.05) {
		n = 30 + g.r.IntN(40)
	}
	var b strings.Builder
	for range n {
		b.WriteRune(genRunes[g.r.IntN(len(genRunes))])
	}
	return b.String()
}

func (g *cmdGen) digest() []byte {
	if g.chance(0.02) {
		return nil
	}
	return []byte{byte(g.r.IntN(40))}
}

func (g *cmdGen) limit(max int64) *int64 {
	if g.chance(0.5) {
		return nil
	}
	if g.chance(0.03) {
		return ptr[int64](-1)
	}
	return ptr(g.r.Int64N(max + 1))
}

func (g *cmdGen) quota() QuotaPatch {
	return QuotaPatch{
		MaxPreferences: g.limit(12),
		MaxValueLength: g.limit(40),
		MaxKeyLength:   g.limit(12),
		MaxTotalBytes:  g.limit(300),
	}
}

func (g *cmdGen) optString(s string) *string {
	if g.chance(0.5) {
		return nil
	}
	return &s
}

func (g *cmdGen) optBool() *bool {
	if g.chance(0.6) {
		return nil
	}
	return ptr(g.chance(0.5))
}

// command returns a random command type and body.
func (g *cmdGen) command() (CmdType, any) {
	switch w := g.r.IntN(100); {
	case w < 12:
		g.ids++
		return CmdCreateUser, CreateUser{Username: g.name(), Email: g.value(), IsStaff: g.chance(0.2), IsSuperuser: g.chance(0.1)}
	case w < 19:
		return CmdUpdateUser, UpdateUser{UserID: g.id(), Username: g.optString(g.name()), Email: g.optString(g.value()), PasswordHash: g.optString("h"), IsStaff: g.optBool(), IsSuperuser: g.optBool()}
	case w < 22:
		return CmdDeleteUser, DeleteUser{UserID: g.id()}
	case w < 30:
		g.ids++
		return CmdCreateToken, CreateToken{UserID: g.id(), Name: g.pick(genKeys), Digest: g.digest()}
	case w < 34:
		return CmdDeleteToken, DeleteToken{UserID: g.id(), TokenID: g.id()}
	case w < 36:
		return CmdSetDefaultQuota, SetDefaultQuota{Quota: g.quota()}
	case w < 41:
		return CmdSetUserQuota, SetUserQuota{UserID: g.id(), Quota: g.quota(), Reset: g.chance(0.2)}
	case w < 84:
		c := PatchPrefs{UserID: g.id()}
		for range g.r.IntN(5) {
			c.Set = append(c.Set, KV{Key: g.key(), Value: g.value()})
		}
		for range g.r.IntN(3) {
			c.Delete = append(c.Delete, g.key())
		}
		return CmdPatchPrefs, c
	case w < 88:
		n := g.pick(genNodes)
		if g.chance(0.05) {
			n = ""
		}
		return CmdSetMember, SetMember{NodeID: n, APIAddr: g.value()}
	case w < 90:
		return CmdRemoveMember, RemoveMember{NodeID: g.pick(genNodes)}
	default:
		g.ids += 2
		return CmdEnsureAdmin, EnsureAdmin{Username: g.pick([]string{"admin", "Admin", "root", ""}), TokenName: "boot", Digest: g.digest()}
	}
}

// garbage returns bytes that are not a valid command entry.
func (g *cmdGen) garbage() []byte {
	switch g.r.IntN(4) {
	case 0: // short
		b := make([]byte, g.r.IntN(entryHeader))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return b
	case 1: // unknown type
		e := make([]byte, entryHeader, entryHeader+2)
		e[0] = byte(12 + g.r.IntN(244))
		if g.chance(0.3) {
			e[0] = 0
		}
		return append(e, "{}"...)
	case 2: // valid header, bad body
		e := make([]byte, entryHeader)
		e[0] = byte(1 + g.r.IntN(11))
		binary.BigEndian.PutUint64(e[1:], g.r.Uint64())
		return append(e, `{"user_id":`...)
	default: // random bytes after a known type
		b := make([]byte, entryHeader+g.r.IntN(20))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		b[0] = byte(1 + g.r.IntN(11))
		return b
	}
}

// next returns the next log entry.
func (g *cmdGen) next() *raft.Log {
	g.idx++
	l := &raft.Log{Index: g.idx, Term: 1 + g.idx/500, Type: raft.LogCommand}
	switch w := g.r.IntN(100); {
	case w < 2:
		l.Type = raft.LogConfiguration
	case w < 5:
		l.Data = g.garbage()
	default:
		typ, body := g.command()
		cmd, err := Encode(typ, body)
		if err != nil {
			panic(err)
		}
		l.Data = Stamp(cmd, testNow+int64(g.idx)*1000)
	}
	return l
}

// genLogs returns n pseudo-random log entries, indexes 1 to n.
func genLogs(seed uint64, n int) []*raft.Log {
	g := newCmdGen(seed)
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = g.next()
	}
	return logs
}
