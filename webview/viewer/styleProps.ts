/**
 * Set inline CSS properties through the CSSOM only. Lit's styleMap writes a `style` attribute
 * on first render, which a strict CSP (no 'unsafe-inline' in style-src) blocks; CSSOM writes
 * are allowed. Usage: <div ${styleProps({ height: '10px' })}>.
 */
import { noChange } from 'lit';
import { Directive, directive, PartType, type ElementPart, type PartInfo } from 'lit/directive.js';

class StylePropsDirective extends Directive {
  private last: Record<string, string> = {};
  constructor(info: PartInfo) {
    super(info);
    if (info.type !== PartType.ELEMENT) throw new Error('styleProps must be used as an element directive');
  }
  render(_props: Record<string, string>): typeof noChange {
    return noChange;
  }
  override update(part: ElementPart, [props]: [Record<string, string>]): typeof noChange {
    const style = (part.element as HTMLElement).style;
    for (const k of Object.keys(this.last)) if (!(k in props)) style.removeProperty(k);
    for (const [k, v] of Object.entries(props)) if (this.last[k] !== v) style.setProperty(k, v);
    this.last = { ...props };
    return noChange;
  }
}

export const styleProps = directive(StylePropsDirective);
