// A strict parser for the YAML that k8s/*.yaml is written in: block mappings and sequences, one-line or
// bracket-balanced multi-line flow collections ({a: b}, [a, b]), plain, 'single' and "double" quoted scalars,
// comments and "---" between documents.
//
// Why our own: tools/node_modules has no YAML parser (the `yaml` npm package would do; check_deploy.mjs uses
// it when it is installed). Anything outside that subset is an error naming the line, never a guess:
// anchors, aliases, tags, block scalars (| >), multi-line plain scalars, tabs, duplicate keys. So are plain
// scalars whose type YAML 1.1 (Kubernetes' sigs.k8s.io/yaml, PyYAML) and YAML 1.2 disagree about: yes/no/
// on/off/y/n, leading-zero or underscored numbers, 0x/0o, sexagesimal 1:30, dates; quote those. Where both
// agree the 1.2 core schema applies: null/~, true/false, integers, floats; everything else is a string.
// check_deploy.mjs also parses each file with PyYAML when python3 has it and reports any difference.

export class YamlError extends Error {}

// Every document of `text` (a file), as plain JS values. `file` names it in errors.
export function parseAllDocuments(text, file = "<yaml>") {
  const documents = [];
  let current = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n];
    if (/^---(\s|#|$)/.test(raw) || /^\.\.\.(\s|#|$)/.test(raw)) {
      if (/^---\s+\S/.test(raw) && !/^---\s+#/.test(raw)) fail(file, n + 1, "content after --- is not supported");
      documents.push(current);
      current = [];
      continue;
    }
    if (raw.includes("\t")) fail(file, n + 1, "tab character (YAML indents with spaces)");
    const text = stripComment(raw, file, n + 1).replace(/\s+$/, "");
    if (text.trim() === "") continue;
    if (raw.startsWith("%")) fail(file, n + 1, "directives are not supported");
    current.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), line: n + 1 });
  }
  documents.push(current);
  const out = [];
  for (const doc of documents) {
    if (doc.length === 0) continue;
    const parser = new BlockParser(doc, file);
    const value = parser.parseNode(0, doc[0].indent);
    if (parser.pos !== doc.length) {
      const l = doc[parser.pos];
      fail(file, l.line, `unexpected indentation or content: ${JSON.stringify(l.text)}`);
    }
    out.push(value);
  }
  return out;
}

function fail(file, line, message) {
  throw new YamlError(`${file}:${line}: ${message}`);
}

// The line without its comment: a '#' at the start or after whitespace, outside quotes.
function stripComment(line, file, lineNo) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === '"') {
      if (c === "\\") i++;
      else if (c === '"') quote = null;
    } else if (quote === "'") {
      if (c === "'") {
        if (line[i + 1] === "'") i++;
        else quote = null;
      }
    } else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s\[{,:-]/.test(line[i - 1]))) {
      quote = c;
    }
  }
  if (quote !== null) fail(file, lineNo, "unterminated quoted scalar (multi-line quoted scalars are not supported)");
  return line;
}

// Where "key: value" splits (the index of the ':'), or -1 when `text` is not a mapping entry.
function findMappingColon(text) {
  if (text.startsWith('"') || text.startsWith("'")) {
    const end = quotedEnd(text, 0);
    if (end < 0) return -1;
    const rest = text.slice(end);
    const m = /^\s*:(\s|$)/.exec(rest);
    return m ? end + rest.indexOf(":") : -1;
  }
  if (/^[\[{]/.test(text)) return -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ":" && (i + 1 === text.length || text[i + 1] === " ")) return i;
  }
  return -1;
}

// The index just past the quoted scalar starting at `start`, or -1.
function quotedEnd(text, start) {
  const q = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (q === '"' && text[i] === "\\") {
      i++;
    } else if (text[i] === q) {
      if (q === "'" && text[i + 1] === "'") {
        i++;
        continue;
      }
      return i + 1;
    }
  }
  return -1;
}

function unquote(token, file, line) {
  if (token.startsWith("'")) return token.slice(1, -1).replace(/''/g, "'");
  let out = "";
  for (let i = 1; i < token.length - 1; i++) {
    const c = token[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = token[++i];
    const simple = { "\\": "\\", '"': '"', "/": "/", n: "\n", t: "\t", r: "\r", "0": "\0", " ": " " };
    if (e in simple) {
      out += simple[e];
    } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(token.slice(i + 1, i + 5))) {
      out += String.fromCharCode(parseInt(token.slice(i + 1, i + 5), 16));
      i += 4;
    } else {
      fail(file, line, `unsupported escape \\${e} in a double-quoted scalar`);
    }
  }
  return out;
}

// A plain scalar's value; the ambiguous ones (see the top) are errors.
function resolvePlain(token, file, line) {
  if (/^[&*!|>%@`]/.test(token)) {
    fail(file, line, `${JSON.stringify(token)}: anchors, aliases, tags and block scalars are not supported`);
  }
  if (token === "~" || /^(null|Null|NULL)$/.test(token)) return null;
  if (/^(true|True|TRUE)$/.test(token)) return true;
  if (/^(false|False|FALSE)$/.test(token)) return false;
  const ambiguous = (why) => fail(file, line, `${JSON.stringify(token)} is ${why}: quote it`);
  if (/^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/.test(token)) {
    ambiguous("a boolean in YAML 1.1 (Kubernetes) but a string in YAML 1.2");
  }
  if (/^[-+]?0[0-9]+$/.test(token)) ambiguous("octal in YAML 1.1");
  if (/^[-+]?0[xXoObB]/.test(token)) ambiguous("a number in one YAML version and maybe not in another");
  if (/^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/.test(token)) ambiguous("a base-60 number in YAML 1.1");
  if (/^[-+]?[0-9.][0-9_.]*_[0-9_.]*$/.test(token)) ambiguous("a number in YAML 1.1");
  if (/^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ]|$)/.test(token)) ambiguous("a timestamp in YAML 1.1");
  if (/^[-+]?\.(inf|Inf|INF|nan|NaN|NAN)$/.test(token)) ambiguous("a special float");
  if (/^[-+]?[0-9]+$/.test(token)) return Number(token);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(token)) return Number(token);
  return token;
}

class BlockParser {
  constructor(lines, file) {
    this.lines = lines;
    this.file = file;
    this.pos = 0;
  }

  // The node starting at line `pos` whose lines are indented by `indent`.
  parseNode(pos, indent) {
    this.pos = pos;
    const l = this.lines[pos];
    if (l.text === "-" || l.text.startsWith("- ")) return this.parseSequence(indent);
    if (findMappingColon(l.text) >= 0) return this.parseMapping(indent);
    // A lone scalar or flow collection as the whole node.
    return this.parseInline(l.text, l);
  }

  parseMapping(indent) {
    const out = {};
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos];
      if (l.indent < indent) break;
      if (l.indent > indent) fail(this.file, l.line, "unexpected indentation");
      if (l.text === "-" || l.text.startsWith("- ")) {
        fail(this.file, l.line, "a sequence item where a mapping key was expected");
      }
      const colon = findMappingColon(l.text);
      if (colon < 0) fail(this.file, l.line, `expected "key: value", got ${JSON.stringify(l.text)}`);
      const keyText = l.text.slice(0, colon).trim();
      const key = /^["']/.test(keyText) ? unquote(keyText, this.file, l.line) : String(keyText);
      if (key === "" || key === "<<" || /^[?&*!|>%@`\[{]/.test(keyText)) {
        fail(this.file, l.line, `unsupported mapping key ${JSON.stringify(keyText)}`);
      }
      if (Object.prototype.hasOwnProperty.call(out, key)) fail(this.file, l.line, `duplicate key "${key}"`);
      const rest = l.text.slice(colon + 1).trim();
      if (rest !== "") {
        out[key] = this.parseInline(rest, l);
        continue;
      }
      this.pos++;
      const next = this.lines[this.pos];
      if (next !== undefined && next.indent > indent) {
        out[key] = this.parseNode(this.pos, next.indent);
      } else if (next !== undefined && next.indent === indent && (next.text === "-" || next.text.startsWith("- "))) {
        out[key] = this.parseSequence(indent);  // "key:" followed by "- item" at the key's own indentation
      } else {
        out[key] = null;
      }
    }
    return out;
  }

  parseSequence(indent) {
    const out = [];
    while (this.pos < this.lines.length) {
      const l = this.lines[this.pos];
      if (l.indent < indent) break;
      if (l.indent > indent) fail(this.file, l.line, "unexpected indentation");
      if (!(l.text === "-" || l.text.startsWith("- "))) break;  // the mapping that holds this sequence goes on
      const content = l.text.slice(1).trimStart();
      if (content === "") {
        this.pos++;
        const next = this.lines[this.pos];
        out.push(next !== undefined && next.indent > indent ? this.parseNode(this.pos, next.indent) : null);
        continue;
      }
      // "- key: value" or "- - x": the item is a block node whose first line starts after the dash.
      if (findMappingColon(content) >= 0 || content === "-" || content.startsWith("- ")) {
        const itemIndent = indent + (l.text.length - content.length);
        this.lines[this.pos] = { indent: itemIndent, text: content, line: l.line };
        out.push(this.parseNode(this.pos, itemIndent));
        continue;
      }
      out.push(this.parseInline(content, l));
    }
    return out;
  }

  // A value on the rest of line `pos` (`l`): a flow collection (which may go on over the next lines until its
  // brackets close), a quoted scalar or a plain one. Leaves `pos` at the line after it.
  parseInline(text, l) {
    const value = this.parseInlineAt(text, l);
    this.pos++;
    return value;
  }

  parseInlineAt(text, l) {
    if (text.startsWith("{") || text.startsWith("[")) {
      let joined = text;
      while (!balanced(joined)) {
        const next = this.lines[this.pos + 1];
        if (next === undefined) fail(this.file, l.line, "unclosed flow collection");
        joined += " " + next.text;
        this.pos++;
      }
      const flow = new FlowParser(joined, this.file, l.line);
      const value = flow.parseValue();
      flow.skipSpace();
      if (flow.i !== joined.length) fail(this.file, l.line, `unexpected ${JSON.stringify(joined.slice(flow.i))}`);
      return value;
    }
    if (text.startsWith('"') || text.startsWith("'")) {
      const end = quotedEnd(text, 0);
      if (end !== text.length) fail(this.file, l.line, `unexpected text after a quoted scalar: ${text}`);
      return unquote(text, this.file, l.line);
    }
    if (text.startsWith("|") || text.startsWith(">")) fail(this.file, l.line, "block scalars are not supported");
    const next = this.lines[this.pos + 1];
    if (next !== undefined && next.indent > l.indent && findMappingColon(next.text) < 0 && !next.text.startsWith("- ")) {
      fail(this.file, next.line, "multi-line plain scalars are not supported");
    }
    return resolvePlain(text, this.file, l.line);
  }
}

// Brackets outside quotes are balanced.
function balanced(text) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = quotedEnd(text, i);
      if (end < 0) return false;
      i = end - 1;
    } else if (c === "{" || c === "[") {
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
    }
  }
  return depth <= 0;
}

class FlowParser {
  constructor(text, file, line) {
    this.text = text;
    this.file = file;
    this.line = line;
    this.i = 0;
  }

  skipSpace() {
    while (this.i < this.text.length && this.text[this.i] === " ") this.i++;
  }

  fail(message) {
    fail(this.file, this.line, `${message} at ${JSON.stringify(this.text.slice(this.i, this.i + 20))}`);
  }

  parseValue() {
    this.skipSpace();
    const c = this.text[this.i];
    if (c === "{") return this.parseMap();
    if (c === "[") return this.parseList();
    if (c === '"' || c === "'") {
      const end = quotedEnd(this.text, this.i);
      if (end < 0) this.fail("unterminated quoted scalar");
      const value = unquote(this.text.slice(this.i, end), this.file, this.line);
      this.i = end;
      return value;
    }
    const start = this.i;
    while (this.i < this.text.length && !/[,\[\]{}]/.test(this.text[this.i])) {
      if (this.text[this.i] === ":" && this.text[this.i + 1] === " ") break;
      this.i++;
    }
    const token = this.text.slice(start, this.i).trim();
    if (token === "") this.fail("empty value");
    return resolvePlain(token, this.file, this.line);
  }

  parseKey() {
    this.skipSpace();
    let key;
    if (this.text[this.i] === '"' || this.text[this.i] === "'") {
      const end = quotedEnd(this.text, this.i);
      if (end < 0) this.fail("unterminated quoted key");
      key = unquote(this.text.slice(this.i, end), this.file, this.line);
      this.i = end;
    } else {
      const start = this.i;
      while (this.i < this.text.length && !/[,\[\]{}]/.test(this.text[this.i])) {
        if (this.text[this.i] === ":" && /[ ,}\]]/.test(this.text[this.i + 1] ?? " ")) break;
        this.i++;
      }
      key = this.text.slice(start, this.i).trim();
      if (key === "" || /^[?&*!|>%@`]/.test(key)) this.fail("unsupported key");
    }
    this.skipSpace();
    if (this.text[this.i] !== ":") this.fail('expected ":"');
    this.i++;
    return key;
  }

  parseMap() {
    this.i++;  // {
    const out = {};
    this.skipSpace();
    if (this.text[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      const key = this.parseKey();
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(`duplicate key "${key}"`);
      this.skipSpace();
      out[key] = this.text[this.i] === "," || this.text[this.i] === "}" ? null : this.parseValue();
      this.skipSpace();
      if (this.text[this.i] === ",") {
        this.i++;
        this.skipSpace();
        if (this.text[this.i] === "}") {
          this.i++;
          return out;
        }
        continue;
      }
      if (this.text[this.i] === "}") {
        this.i++;
        return out;
      }
      this.fail('expected "," or "}"');
    }
  }

  parseList() {
    this.i++;  // [
    const out = [];
    this.skipSpace();
    if (this.text[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.parseValue());
      this.skipSpace();
      if (this.text[this.i] === ",") {
        this.i++;
        this.skipSpace();
        if (this.text[this.i] === "]") {
          this.i++;
          return out;
        }
        continue;
      }
      if (this.text[this.i] === "]") {
        this.i++;
        return out;
      }
      this.fail('expected "," or "]"');
    }
  }
}
