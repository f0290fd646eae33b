// Unit tests for dom.js's append(), with a minimal stand-in for the DOM (no
// dependencies): node --test web/tests/
import { test } from 'node:test';
import assert from 'node:assert/strict';

class FakeNode {
  constructor(text) {
    this.text = text;
    this.children = [];
  }
  appendChild(child) {
    this.children.push(child);
    return child;
  }
  get textContent() {
    return this.text !== undefined ? this.text : this.children.map((c) => c.textContent).join('');
  }
}
globalThis.Node = FakeNode;
globalThis.document = {
  createTextNode: (text) => new FakeNode(text),
  createElement: () => new FakeNode(),
};

const { append, h } = await import('../js/dom.js');

test('append leaves out null, undefined and false (Element.append writes "null")', () => {
  const el = new FakeNode();
  const notice = null;
  const out = append(el, new FakeNode('Sign in'), notice, undefined, false, 'form');
  assert.equal(out, el);
  assert.equal(el.textContent, 'Sign inform');
  assert.equal(el.children.length, 2);
  assert.ok(!/null|undefined|false/.test(el.textContent));
});

test('append flattens arrays and writes strings and numbers as text', () => {
  const el = new FakeNode();
  append(el, ['a', null, ['b', undefined]], 0, '');
  assert.equal(el.textContent, 'ab0');
  assert.equal(el.children.length, 4);
});

test('h() skips missing children the same way', () => {
  const el = h('p', {}, 'x', null, undefined, false, 'y');
  assert.equal(el.textContent, 'xy');
});
