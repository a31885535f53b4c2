/**
 * LaTeX (as written in final answers) -> a mathjs expression string.
 *
 * Deliberately small: final answers use a narrow slice of LaTeX (fractions, roots, powers, trig,
 * logs, binomials, Greek letters, implicit multiplication). Anything else throws
 * `UnsupportedLatex`, and the caller falls back to comparing normalised strings. The output only
 * ever contains names from a whitelist, digits, single-letter variables and operators, so
 * evaluating it with mathjs cannot reach anything but arithmetic.
 */

export class UnsupportedLatex extends Error {
  override readonly name = 'UnsupportedLatex';
}

/** LaTeX function commands -> mathjs function names. */
const FUNCTIONS: Record<string, string> = {
  sin: 'sin', cos: 'cos', tan: 'tan', cot: 'cot', sec: 'sec', csc: 'csc',
  arcsin: 'asin', arccos: 'acos', arctan: 'atan', sinh: 'sinh', cosh: 'cosh', tanh: 'tanh',
  ln: 'log', log: 'log10', exp: 'exp',
};

/** Plain-text words a model may write instead of LaTeX (`sqrt(2)`, `pi`). */
const WORDS: Record<string, string> = {
  sqrt: 'sqrt', pi: 'pi', sin: 'sin', cos: 'cos', tan: 'tan', cot: 'cot', sec: 'sec', csc: 'csc',
  ln: 'log', log: 'log10', exp: 'exp', inf: 'Infinity', infty: 'Infinity', infinity: 'Infinity',
  arcsin: 'asin', arccos: 'acos', arctan: 'atan',
};

const GREEK = new Set([
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota',
  'kappa', 'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi',
  'omega', 'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Sigma', 'Phi', 'Psi', 'Omega',
]);

/** Names the converter may emit that are not free variables. */
export const KNOWN_NAMES = new Set(['pi', 'e', 'i', 'Infinity', 'sqrt', 'nthRoot', 'binom', 'abs', 'floor', 'ceil', 'log', 'log10', 'exp',
  'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'tanh']);

const SPACING = new Set([',', ';', ':', '!', ' ', 'quad', 'qquad', 'left', 'right', 'displaystyle', 'big', 'Big', 'bigl', 'bigr', 'Bigl', 'Bigr']);
const WRAPPERS = new Set(['text', 'textbf', 'textit', 'textrm', 'mathrm', 'mathbf', 'mathit', 'mbox', 'operatorname', 'boldsymbol', 'mathbb']);

class Converter {
  private i = 0;
  private absOpen = false;
  constructor(private readonly s: string) {}

  run(): string {
    const out = this.seq(null);
    if (this.i < this.s.length) throw new UnsupportedLatex(`unexpected "${this.s[this.i]}"`);
    return out;
  }

  private peek(): string { return this.s[this.i] ?? ''; }

  private skipSpaces(): void { while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++; }

  /** Converts until `stop` (not consumed) or the end. */
  private seq(stop: string | null): string {
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (stop !== null && c === stop) return out;
      out += this.atom();
    }
    if (stop !== null) throw new UnsupportedLatex(`missing "${stop}"`);
    return out;
  }

  /** Raw LaTeX of one argument: `{...}`, a command with its name, or one character. */
  private rawArg(): string {
    this.skipSpaces();
    const c = this.peek();
    if (!c) throw new UnsupportedLatex('missing argument');
    if (c === '{') {
      let depth = 0;
      const start = this.i;
      for (; this.i < this.s.length; this.i++) {
        const ch = this.s[this.i];
        if (ch === '\\') { this.i++; continue; }
        if (ch === '{') depth++;
        else if (ch === '}' && --depth === 0) { this.i++; return this.s.slice(start + 1, this.i - 1); }
      }
      throw new UnsupportedLatex('unbalanced braces');
    }
    if (c === '\\') {
      const m = /^\\([A-Za-z]+|.)/.exec(this.s.slice(this.i));
      if (!m) throw new UnsupportedLatex('bad command');
      this.i += m[0].length;
      return m[0];
    }
    this.i++;
    return c;
  }

  private arg(): string { return `(${convert(this.rawArg())})`; }

  /** Argument of a function such as `\sin`: `(x)`, `{x}`, `\theta`, `2x`, `x`. */
  private functionArg(): string {
    this.skipSpaces();
    const c = this.peek();
    if (c === '(') {
      this.i++;
      const inner = this.seq(')');
      this.i++;
      return `(${inner})`;
    }
    if (c === '{' || c === '\\') return this.arg();
    const m = /^[0-9.]*[A-Za-z]?/.exec(this.s.slice(this.i));
    if (!m || !m[0]) throw new UnsupportedLatex('missing function argument');
    this.i += m[0].length;
    return `(${convert(m[0])})`;
  }

  private command(): string {
    const m = /^\\([A-Za-z]+|.)/.exec(this.s.slice(this.i));
    if (!m) throw new UnsupportedLatex('lone backslash');
    this.i += m[0].length;
    const name = m[1];
    if (SPACING.has(name)) return ' ';
    if (name === '{') return '(';
    if (name === '}') return ')';
    if (name === '%') return '';
    switch (name) {
      case 'frac': case 'dfrac': case 'tfrac': case 'cfrac': {
        const a = this.arg();
        const b = this.arg();
        return ` (${a}/${b}) `;
      }
      case 'sqrt': {
        this.skipSpaces();
        if (this.peek() === '[') {
          this.i++;
          const n = this.seq(']');
          this.i++;
          return ` nthRoot(${this.arg()}, ${n}) `;
        }
        return ` sqrt(${this.arg()}) `;
      }
      case 'binom': case 'dbinom': case 'tbinom': case 'choose': {
        const a = this.arg();
        const b = this.arg();
        return ` binom(${a}, ${b}) `;
      }
      case 'pi': return ' pi ';
      case 'infty': case 'infin': return ' Infinity ';
      case 'cdot': case 'times': case 'ast': return ' * ';
      case 'div': return ' / ';
      case 'lvert': case 'rvert': case 'vert': case 'mid': return this.bar();
      case 'begin': return this.matrix();
      case 'lfloor': return ' floor(';
      case 'lceil': return ' ceil(';
      case 'rfloor': case 'rceil': return ') ';
    }
    if (GREEK.has(name)) return ` Greek_${name} `;
    if (WRAPPERS.has(name)) return ` ${convert(this.rawArg())} `;
    const fn = FUNCTIONS[name];
    if (fn) {
      this.skipSpaces();
      let power = '';
      let base = '';
      if (this.peek() === '_' && fn === 'log10') { this.i++; base = this.arg(); }
      if (this.peek() === '^') { this.i++; power = this.arg(); }
      const x = this.functionArg();
      const call = base ? `log(${x}, ${base})` : `${fn}(${x})`;
      return power ? ` (${call}^${power}) ` : ` ${call} `;
    }
    throw new UnsupportedLatex(`unsupported command \\${name}`);
  }

  /** `\begin{pmatrix}a & b \\ c & d\end{pmatrix}` (and bmatrix, array, ...) -> `[[a, b], [c, d]]`, so answers like `A + B` evaluate. */
  private matrix(): string {
    const env = this.rawArg();
    if (!/^(?:[pbBvV]?matrix|array)$/.test(env)) throw new UnsupportedLatex(`unsupported environment ${env}`);
    if (env === 'array') { this.skipSpaces(); if (this.peek() === '{') this.rawArg(); }
    const end = `\\end{${env}}`;
    const close = this.s.indexOf(end, this.i);
    if (close < 0) throw new UnsupportedLatex(`missing ${end}`);
    const body = this.s.slice(this.i, close);
    this.i = close + end.length;
    if (body.includes('\\begin')) throw new UnsupportedLatex('nested environments');
    const rows = body.split('\\\\').map((r) => r.trim()).filter((r) => r.length > 0);
    if (rows.length === 0) throw new UnsupportedLatex('empty matrix');
    const cells = rows.map((r) => r.split('&').map((c) => convert(c.trim())));
    if (cells.some((r) => r.length !== cells[0].length)) throw new UnsupportedLatex('ragged matrix');
    return ` [${cells.map((r) => `[${r.join(', ')}]`).join(', ')}] `;
  }

  private bar(): string {
    this.absOpen = !this.absOpen;
    return this.absOpen ? ' abs(' : ') ';
  }

  private atom(): string {
    const c = this.s[this.i];
    if (c === '\\') return this.command();
    if (/\s/.test(c)) { this.i++; return ' '; }
    if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(this.s.slice(this.i))!;
      this.i += m[0].length;
      return ` ${m[0]} `;
    }
    if (/[A-Za-z]/.test(c)) {
      const m = /^[A-Za-z]+/.exec(this.s.slice(this.i))!;
      this.i += m[0].length;
      const word = WORDS[m[0]];
      if (word) return ` ${word} `;
      // Letters next to each other are a product of variables (`ab` = a*b), as in math.
      let out = ' ' + m[0].split('').join(' ');
      if (this.peek() === '_') {
        this.i++;
        const sub = this.rawArg();
        if (!/^[A-Za-z0-9]+$/.test(sub)) throw new UnsupportedLatex('unsupported subscript');
        out += `_${sub}`;
      }
      return out + ' ';
    }
    this.i++;
    switch (c) {
      case '{': { const inner = this.seq('}'); this.i++; return `(${inner})`; }
      case '(': case '[': return '(';
      case ')': case ']': return ')';
      case '+': case '-': case '*': case '/': case '!': return c;
      case '&': throw new UnsupportedLatex('"&" outside a matrix');
      case '^': return `^${this.arg()}`;
      case '|': return this.bar();
      case '\u2212': return '-';
      case '\u00b7': case '\u00d7': return '*';
      case '\u03c0': return ' pi ';
      case '\u221a': return ` sqrt${this.functionArg()} `;
      case '\u221e': return ' Infinity ';
    }
    throw new UnsupportedLatex(`unexpected "${c}"`);
  }
}

const CALLABLE = new Set(['sqrt', 'nthRoot', 'binom', 'abs', 'floor', 'ceil', 'log', 'log10', 'exp', 'sin', 'cos', 'tan', 'cot', 'sec', 'csc',
  'asin', 'acos', 'atan', 'sinh', 'cosh', 'tanh']);

/**
 * mathjs reads `x (x+1)` as a call of a function `x`; in an answer it is a product. Every name
 * that is not one of the functions above gets an explicit `*` before a parenthesis.
 */
function explicitProducts(expr: string): string {
  return expr
    .replace(/([A-Za-z_][A-Za-z0-9_]*)(\s*)\(/g, (whole, name: string) => (CALLABLE.has(name) ? whole : `${name} * (`))
    // Two matrices side by side are a product.
    .replace(/\]\s+\[/g, '] * [');
}

/** The mathjs form of a LaTeX answer expression; throws `UnsupportedLatex`. */
export function convert(latex: string): string {
  return explicitProducts(new Converter(latex).run());
}
