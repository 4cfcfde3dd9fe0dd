package mib

// indexItem is one element of an INDEX clause as written.
type indexItem struct {
	name    string
	implied bool
}

// scanIndexes returns the INDEX clause of every OBJECT-TYPE in content,
// keyed by object name, with descriptors exactly as written. gomib resolves
// INDEX elements to objects and keeps only what resolved; net-snmp (and so
// the reference generator) keeps the descriptors, which matters when two
// objects share an OID (PowerNet-MIB's upsHighPrecBatteryCartridgeIndex and
// upsHighPrecBatteryExtraIndex) or an index does not resolve.
func scanIndexes(content []byte) map[string][]indexItem {
	out := map[string][]indexItem{}
	var (
		prev, cur string
		n         = len(content)
	)
	for i := 0; i < n; i++ {
		c := content[i]
		switch {
		case c == '"':
			for i++; i < n && content[i] != '"'; i++ {
			}
		case c == '-' && i+1 < n && content[i+1] == '-':
			i = skipComment(content, i)
		case isIdentStart(c):
			j := i
			for j < n && isIdentByte(content[j]) && !(content[j] == '-' && j+1 < n && content[j+1] == '-') {
				j++
			}
			word := string(content[i:j])
			i = j - 1
			switch word {
			case "OBJECT-TYPE":
				cur = prev
			case "INDEX":
				k := j
				for k < n && isSpace(content[k]) {
					k++
				}
				if k >= n || content[k] != '{' || cur == "" {
					break
				}
				var items []indexItem
				implied := false
				for k++; k < n && content[k] != '}'; k++ {
					if content[k] == '-' && k+1 < n && content[k+1] == '-' {
						k = skipComment(content, k)
						continue
					}
					if !isIdentStart(content[k]) {
						continue
					}
					e := k
					for e < n && isIdentByte(content[e]) {
						e++
					}
					name := string(content[k:e])
					k = e - 1
					if name == "IMPLIED" {
						implied = true
						continue
					}
					items = append(items, indexItem{name: name, implied: implied})
					implied = false
				}
				out[cur] = items
				i = k
			}
			prev = word
		}
	}
	return out
}

func isIdentStart(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// skipComment returns the offset of the last byte of the ASN.1 comment
// starting at i: it ends at the next "--" or before the end of the line.
func skipComment(content []byte, i int) int {
	n := len(content)
	for i += 2; i < n && content[i] != '\n'; i++ {
		if content[i] == '-' && i+1 < n && content[i+1] == '-' {
			return i + 1
		}
	}
	return i - 1
}
