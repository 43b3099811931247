// tasty doctor: a checklist (✓ ! ✗ -) per environment and a one-line verdict. Safe to paste publicly.
import { type Environment, ENVIRONMENTS } from '../config.ts';
import type { Context } from '../context.ts';
import { type Check, type Diagnosis, diagnose } from '../doctor.ts';
import { oneLine } from '../output.ts';
import { pad } from '../render.ts';

interface DoctorOptions {
  all?: boolean;
  force?: boolean;
  showAccounts?: boolean;
}

function verdict(d: Diagnosis): string {
  const failed = d.checks.filter((c) => c.status === 'fail');
  const warned = d.checks.filter((c) => c.status === 'warn');
  if (failed.length) return `${failed.length} problem${failed.length === 1 ? '' : 's'}: ${failed[0]?.summary}${failed[0]?.fix ? `. Fix: ${failed[0].fix}` : ''}`;
  if (warned.length) return `working, with ${warned.length} warning${warned.length === 1 ? '' : 's'}`;
  return `all good: tasty can reach tastytrade and mint tokens for ${d.environment}`;
}

export default async function doctor(ctx: Context, opts: DoctorOptions): Promise<number> {
  const envs: readonly Environment[] = opts.all ? ENVIRONMENTS : [ctx.environment().environment];
  const results: Diagnosis[] = [];
  for (const e of envs) results.push(await diagnose(ctx, e, opts));
  const ok = results.every((r) => r.ok);
  if (ctx.json) {
    const strip = (d: Diagnosis) => ({
      environment: d.environment,
      ok: d.ok,
      checks: d.checks.map((c: Check) => ({ id: c.id, status: c.status, summary: c.summary, detail: c.detail ?? null, fix: c.fix ?? null, cause: c.cause ?? null })),
    });
    ctx.out.document(opts.all ? { ok, environments: results.map(strip) } : strip(results[0] as Diagnosis));
    return ok ? 0 : 1;
  }
  const c = ctx.out.c;
  const mark: Record<Check['status'], string> = { ok: c.green('✓'), warn: c.yellow('!'), fail: c.red('✗'), skip: c.dim('-') };
  const blocks = results.map((d) => {
    const lines = [`${c.bold('tasty doctor')} ${ctx.out.envTag(d.environment)}`];
    for (const check of d.checks) {
      // Summaries quote the server and the token: sanitised before colour is added around them.
      const ch = { ...check, summary: oneLine(check.summary), detail: check.detail && oneLine(check.detail), fix: check.fix && oneLine(check.fix) };
      lines.push(`${mark[ch.status]} ${pad(ch.title, 17)} ${ch.status === 'skip' ? c.dim(ch.summary) : ch.summary}`);
      if (ch.detail && ch.status !== 'ok') lines.push(`    ${c.dim(ch.detail)}`);
      if (ch.fix && ch.status !== 'ok') lines.push(`    ${c.cyan('fix:')} ${ch.fix}`);
    }
    lines.push('', `${d.ok ? c.green('Verdict:') : c.red('Verdict:')} ${oneLine(verdict(d))}`);
    return lines.join('\n');
  });
  ctx.out.data(blocks.join('\n\n'));
  return ok ? 0 : 1;
}
