/** Writes the TemplateBody of every StackSet in the top-level templates of a cloud assembly to a file of its own (`<stack>.<StackSet>.stackset.json`) and prints their paths, so that cfn-lint checks the member template too. */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Writes the StackSet templates of the assembly in `dir` next to its templates, and returns their paths. */
export function writeStackSetTemplates(dir: string): string[] {
  const written: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.template.json') && !f.endsWith('.nested.template.json'))) {
    const template = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    for (const [id, resource] of Object.entries<any>(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::CloudFormation::StackSet') continue;
      const body = resource.Properties?.TemplateBody;
      if (typeof body !== 'string') throw new Error(`the StackSet ${id} in ${file} has no TemplateBody`);
      const target = path.join(dir, `${file.replace(/\.template\.json$/, '')}.${id}.stackset.json`);
      writeFileSync(target, body);
      written.push(target);
    }
  }
  return written;
}

// Run directly: `node --import tsx scripts/stack-set-templates.ts CDK_OUT_DIR`.
if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/stack-set-templates.ts CDK_OUT_DIR');
    process.exit(2);
  }
  try {
    for (const file of writeStackSetTemplates(path.resolve(dir))) console.log(file);
  } catch (error) {
    console.error(`stack-set-templates: ${(error as Error).message}`);
    process.exit(1);
  }
}
