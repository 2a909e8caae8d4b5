export type Severity = 'error' | 'warning';

export interface Finding {
  ruleId: string;
  severity: Severity;
  /** The table, policy, role, view or function at fault. */
  object: string;
  problem: string;
  fix: string;
}

export function hasErrors(findings: Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

export function sortFindings(findings: Finding[]): Finding[] {
  const rank = (f: Finding) => (f.severity === 'error' ? 0 : 1);
  return [...findings].sort(
    (a, b) => rank(a) - rank(b) || a.ruleId.localeCompare(b.ruleId) || a.object.localeCompare(b.object),
  );
}

/** A plain-text table for terminals, then a one-line summary. */
export function formatFindings(findings: Finding[]): string {
  const errors = findings.filter((f) => f.severity === 'error').length;
  const summary = `${errors} error(s), ${findings.length - errors} warning(s)`;
  if (findings.length === 0) return `No findings: every isolation rule holds.\n${summary}\n`;
  const lines = findings.flatMap((f) => [
    `${f.severity === 'error' ? 'ERROR  ' : 'WARNING'} ${f.ruleId.padEnd(30)} ${f.object}`,
    `        problem: ${f.problem}`,
    `        fix:     ${f.fix}`,
  ]);
  return `${lines.join('\n')}\n\n${summary}\n`;
}
