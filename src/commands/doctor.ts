// tasty doctor: a header (versions, OS, keychain), then one line per check (✓ ! ✗ -) the moment it finishes, and a
// verdict naming each problem once. Safe to paste publicly.
import { type Environment, ENVIRONMENTS } from '../config.ts';
import type { Context } from '../context.ts';
import { aboutThisMachine, type Check, type Diagnosis, diagnose, findings } from '../doctor.ts';
import { oneLine, type Spinner } from '../output.ts';
import { pad } from '../render.ts';

interface DoctorOptions {
  all?: boolean;
  force?: boolean;
  showAccounts?: boolean;
}

const label = (cause: string) => cause.replace(/[_-]+/g, ' ').replace(/\b(ip|dns|tls|api|jwt|html)\b/g, (w) => w.toUpperCase());

/** One line: what is wrong, each cause once, with the checks it shows in; the fixes are on the lines above. */
export function verdict(d: Diagnosis): string {
  const { problems, warnings } = findings(d);
  const list = (xs: Array<{ cause?: string; titles: string[] }>) => xs.map((x) => (x.cause === undefined ? x.titles.join(', ') : `${label(x.cause)} (${x.titles.join(', ')})`)).join('; ');
  const warned = warnings.length ? `${warnings.length} warning${warnings.length === 1 ? '' : 's'}: ${list(warnings)}` : '';
  if (problems.length) return `${problems.length} problem${problems.length === 1 ? '' : 's'}: ${list(problems)}${warned ? `; and ${warned}` : ''}. The fix is under each ✗ above.`;
  if (warnings.length) return `working, with ${warned}`;
  return `all good: tasty can reach tastytrade and mint tokens for ${d.environment}`;
}

export default async function doctor(ctx: Context, opts: DoctorOptions): Promise<number> {
  const envs: readonly Environment[] = opts.all ? ENVIRONMENTS : [ctx.environment().environment];
  const about = aboutThisMachine();
  const out = ctx.out;
  const c = out.c;
  const mark: Record<Check['status'], string> = { ok: c.green('✓'), warn: c.yellow('!'), fail: c.red('✗'), skip: c.dim('-') };
  const results: Diagnosis[] = [];
  if (!ctx.json) out.data(c.dim(`tasty ${about.tasty} · Node ${about.node} · ${about.os} · keychain: ${about.keychain}`));
  for (const e of envs) {
    if (!ctx.json) out.data(`${results.length ? '\n' : ''}${c.bold('tasty doctor')} ${out.envTag(e)}`);
    // A spinner (terminals only, after half a second) says what the running check waits for; stopped before its line.
    let timer: NodeJS.Timeout | undefined;
    let current: Spinner | undefined;
    let generation = 0;
    const fixes = new Set<string>();
    const stopSpinner = () => {
      clearTimeout(timer);
      generation++;
      current?.stop();
      current = undefined;
    };
    const d = await diagnose(ctx, e, opts, {
      start: (_unit, waitingFor) => {
        if (ctx.json) return;
        const mine = ++generation;
        timer = setTimeout(() => {
          void out.spinner(waitingFor).then((s) => {
            if (mine === generation) current = s;
            else s.stop();
          });
        }, 500);
      },
      done: (check) => {
        if (ctx.json) return;
        stopSpinner();
        // Summaries quote the server and the token: sanitised before colour is added around them.
        const ch = { ...check, summary: oneLine(check.summary), detail: check.detail && oneLine(check.detail), fix: check.fix && oneLine(check.fix) };
        const lines = [`${mark[ch.status]} ${pad(ch.title, 17)} ${ch.status === 'skip' ? c.dim(ch.summary) : ch.summary}`];
        if (ch.detail && ch.status !== 'ok') lines.push(`    ${c.dim(ch.detail)}`);
        // One cause, one fix: a fix already printed for an earlier check is pointed at, not repeated.
        if (ch.fix && ch.status !== 'ok') lines.push(`    ${c.cyan('fix:')} ${fixes.has(ch.fix) ? 'as above' : ch.fix}`);
        if (ch.fix && ch.status !== 'ok') fixes.add(ch.fix);
        out.data(lines.join('\n'));
      },
    }).finally(stopSpinner);
    results.push(d);
    if (!ctx.json) out.data(`\n${d.ok ? c.green('Verdict:') : c.red('Verdict:')} ${oneLine(verdict(d))}`);
  }
  const ok = results.every((r) => r.ok);
  if (ctx.json) {
    const strip = (d: Diagnosis) => ({
      environment: d.environment,
      ok: d.ok,
      checks: d.checks.map((ch: Check) => ({ id: ch.id, status: ch.status, summary: ch.summary, detail: ch.detail ?? null, fix: ch.fix ?? null, cause: ch.cause ?? null, title: ch.title, durationMs: ch.durationMs ?? null })),
      problems: findings(d).problems.map((p) => ({ cause: p.cause ?? null, checks: p.ids })),
      ...about,
    });
    out.document(opts.all ? { ok, environments: results.map(strip), ...about } : strip(results[0] as Diagnosis));
  }
  return ok ? 0 : 1;
}
