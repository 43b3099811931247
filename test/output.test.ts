// The output layer: one sanitiser and one redactor under every write (stdout data and documents included).
import { describe, expect, it } from 'vitest';
import { cleanServerText, Output, redactText, sanitize } from '../src/output.ts';

function output(o: { tty?: boolean; json?: boolean; columns?: number } = {}) {
  const out = { text: '' };
  const err = { text: '' };
  const env = o.tty ? { FORCE_COLOR: '1' } : {};
  const stream = (sink: { text: string }) => ({ write: (s: string) => (sink.text += s), isTTY: o.tty === true, columns: o.columns });
  const output = new Output({ json: o.json === true, color: undefined, verbose: true, env, stdout: stream(out), stderr: stream(err) });
  return { output, out, err };
}

const HOSTILE = 'a\u001b]52;c;ZXZpbA==\u0007b\u001b[2Jc\u009b6nd\r\u202ee\u0000f';

describe('the sanitiser', () => {
  it('strips every control and escape character, keeps the text', () => {
    expect(sanitize(HOSTILE)).toBe('a]52;c;ZXZpbA==b[2Jc6ndef');
  });

  it('keeps only well-formed colour sequences when asked (tasty’s own colours on a terminal)', () => {
    expect(sanitize('\u001b[31mred\u001b[0m\u001b]0;title\u0007\u001b[2J', { keepSgr: true })).toBe('\u001b[31mred\u001b[0m]0;title[2J');
  });

  it('runs under every write: data, info, warn, error, debug; colour or not', () => {
    for (const tty of [false, true]) {
      const { output: o, out, err } = output({ tty });
      o.data(HOSTILE);
      o.info(HOSTILE);
      o.warn(HOSTILE);
      o.error(HOSTILE, HOSTILE);
      o.debug(HOSTILE);
      o.redraw(HOSTILE, 0);
      const all = out.text + err.text;
      expect(all.replace(/\u001b\[[0-9;]*m/g, '')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(all).toContain('a]52;c;ZXZpbA==b[2Jc6ndef');
      if (!tty) expect(all).not.toContain('\u001b');
    }
  });

  it('documents: C1 controls and bidi overrides escaped, the value unchanged', () => {
    const { output: o, out } = output();
    o.document({ name: HOSTILE });
    expect(out.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(JSON.parse(out.text).name).toBe(HOSTILE);
  });
});

describe('the redactor', () => {
  it('redacts a registered secret of any length, on stdout and in documents too', () => {
    const { output: o, out, err } = output();
    o.addSecret('s3');
    o.addSecret('cs_x7Q');
    o.data('the secret is cs_x7Q');
    o.info('and s3');
    o.document({ cs_x7Q: ['cs_x7Q', { deeper: 'x s3 y' }], n: 3 });
    expect(out.text + err.text).not.toMatch(/cs_x7Q|s3/);
    expect(JSON.parse(out.text.split('\n').slice(1).join('\n'))).toEqual({ '[redacted]': ['[redacted]', { deeper: 'x [redacted] y' }], n: 3 });
  });

  it('JWT- and Bearer-shaped strings nobody registered: redacted in messages, kept in data (a quote token is data)', () => {
    const { output: o, out, err } = output();
    const jwt = 'eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl';
    o.data(`token ${jwt}`);
    o.document({ token: jwt });
    o.warn(`token ${jwt} and Bearer abcdefgh12345`);
    expect(out.text).toContain(`token ${jwt}`);
    expect(JSON.parse(out.text.split('\n').slice(1).join('\n'))).toEqual({ token: jwt });
    expect(err.text).toBe('token [redacted-jwt] and Bearer [redacted]\n');
  });

  it('the longest secret first, so one that contains another goes whole', () => {
    expect(redactText('abcdef and abc', ['abc', 'abcdef'])).toBe('[redacted] and [redacted]');
  });

  it('reveal prints the one value a command exists for, and refuses anything with controls or spaces', () => {
    const { output: o, out } = output();
    o.addSecret('at_token');
    o.reveal('at_token');
    o.document({ accessToken: 'at_token', other: 'x at_token' }, { reveal: ['at_token'] });
    expect(out.text).toBe('at_token\n{\n  "accessToken": "at_token",\n  "other": "x [redacted]"\n}\n');
    expect(() => o.reveal('at_x\r\nX-Injected: yes')).toThrow(/control/);
  });

  it('cleanServerText: one line, sanitised, secrets redacted before the cap', () => {
    const secret = 'cs_abcdef';
    const text = `Grant revoked for\r\nclient_secret=${secret}\u001b[2J ${'x'.repeat(400)}`;
    const clean = cleanServerText(text, [secret], 60);
    expect(clean).toMatch(/^Grant revoked for client_secret=\[redacted\]\[2J x+…$/);
    expect(clean.length).toBe(60);
  });
});

describe('spinners', () => {
  it('no spinner on a terminal that reports 0 columns (ora would loop forever in clear())', async () => {
    const { output: o, err } = output({ tty: true, columns: 0 });
    const s = await o.spinner('validating');
    s.succeed('done');
    expect(err.text).toBe('');
  });
});
