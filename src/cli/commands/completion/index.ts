/**
 * `dmsnet completion bash|zsh`: prints a completion script for the shell (generated from the
 * command tree, see script.ts). Needs no daemon and no configuration.
 */
import { Argument, type Command } from 'commander'
import { printOut } from '../../context.js'
import { bashScript, zshScript } from './script.js'

export function register (program: Command): void {
  program.command('completion')
    .description('print a shell completion script: dmsnet completion bash > /etc/bash_completion.d/dmsnet')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .option('--json', 'print JSON ({ shell, script })')
    .action((shell: 'bash' | 'zsh', opts: { json?: boolean }) => {
      const script = shell === 'bash' ? bashScript(program) : zshScript(program)
      if (opts.json === true) printOut({ shell, script }, true)
      else process.stdout.write(script)
    })
}
