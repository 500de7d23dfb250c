package cluster

import "testing"

func TestAdvertisedAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    string // "" for nil
		wantErr bool
	}{
		{in: "10.0.0.5:8300", want: "10.0.0.5:8300"},
		{in: "prefsd-1.prefsd.default.svc:8300", want: "prefsd-1.prefsd.default.svc:8300"},
		{in: "[::1]:8300", want: "[::1]:8300"},
		{in: "127.0.0.1:0"},
		{in: "127.0.0.1", wantErr: true},
		{in: ":8300", wantErr: true},
		{in: "host:http", wantErr: true},
		{in: "host:70000", wantErr: true},
	}
	for _, tt := range tests {
		a, err := advertisedAddr(tt.in)
		switch {
		case tt.wantErr:
			if err == nil {
				t.Errorf("advertisedAddr(%q) = %v, want an error", tt.in, a)
			}
		case err != nil:
			t.Errorf("advertisedAddr(%q): %v", tt.in, err)
		case tt.want == "" && a != nil:
			t.Errorf("advertisedAddr(%q) = %v, want nil (the listener's own)", tt.in, a)
		case tt.want != "" && (a == nil || a.String() != tt.want || a.Network() != "tcp"):
			t.Errorf("advertisedAddr(%q) = %v, want tcp %s", tt.in, a, tt.want)
		}
	}
}
