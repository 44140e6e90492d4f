#!/usr/bin/env python3
# Hand-written mutants of ftp-host's drive-loop bookkeeping (server.rs, client/conn.rs,
# transfer.rs), run one at a time against the tokio instances of the integration tests that
# observe them. cargo-mutants 27.1 runs only the mutated package's tests in this workspace, and
# this code is only observable end to end. Each mutant is applied to the working tree and
# restored afterwards (even on failure): run it on a clean checkout. Prints one line a mutant.
# Usage: python3 tests/mutants/host_bookkeeping.py   (about 10 minutes)
import subprocess, sys, shutil, os
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
TESTS = ['cargo','test','-q','-p','ftp-tests','--test','server_duties','--test','interop_curl','--test','client_ours','--','--skip','futures','--skip','mio']
muts = [
 ('ftp-host/src/server.rs','            self.session.handle_data_progress(now, *id, progress.get());','            let _ = (now, id, progress);','progress not reported before timers'),
 ('ftp-host/src/server.rs','                        ServerEvent::TransferTruncated { id, bytes }','                        ServerEvent::TransferDone { id, bytes }','truncated TLS upload reported as done'),
 ('ftp-host/src/server.rs','                    ServerOutput::StartTls | ServerOutput::StopTls | ServerOutput::Close\n                        if self.unflushed =>','                    ServerOutput::StartTls | ServerOutput::StopTls | ServerOutput::Close\n                        if false =>','no flush before StartTls/StopTls/Close'),
 ('ftp-host/src/server.rs','                    ServerOutput::Release(source) => {\n                        self.handles.remove(&source);\n                    }','                    ServerOutput::Release(_source) => {}','Release ignored (handle kept)'),
 ('ftp-host/src/server.rs','            DataIntent::Abort { id } | DataIntent::Close { id } => {\n                self.channels.remove(&id);','            DataIntent::Abort { id } | DataIntent::Close { id } => {\n                let _ = id;','Abort/Close keep the channel and its task'),
 ('ftp-host/src/server.rs','                        self.events.push_back(ServerEvent::Listening { id, addr });','                        let _ = addr;','Listening never reported'),
 ('ftp-host/src/server.rs','                    (Some(Handle::Read(reader)), Direction::Send) => {','                    (Some(Handle::Read(reader)), Direction::Receive) => {','download paired with the wrong direction'),
 ('ftp-host/src/server.rs','                    self.handles.remove(&id);\n                }\n            }\n            Report::Accepted','                }\n            }\n            Report::Accepted','refused Opened answer keeps its handle'),
 ('ftp-host/src/server.rs','            } => Work::Login(Credentials {\n                user,\n                pass,\n                account,\n                host,\n                anonymous,\n            }),','            } => Work::Login(Credentials {\n                user,\n                pass,\n                account,\n                host,\n                anonymous: !anonymous,\n            }),','anonymous flag inverted'),
 ('ftp-host/src/client/conn.rs','        let tls = ch.protection == Some(DataProtection::Tls);','        let tls = ch.protection != Some(DataProtection::Tls);','client data TLS inverted'),
 ('ftp-host/src/client/conn.rs','        while let Some(out) = self.session.poll_output() {\n            if let Some(a) = self.output(out) {\n                self.actions.push_back(a);\n            }\n        }\n        self.channels.clear();','        self.channels.clear();','finish does not drain the session first'),
 ('ftp-host/src/transfer.rs','                Some(Chunk::End) => break,\n                None => return Err(TransferError::ConnectionLost),','                Some(Chunk::End) | None => break,','aborted upload finished as complete'),
]
results=[]
for path, old, new, name in muts:
    src=open(path).read()
    if old not in src:
        results.append((name,'NOT APPLIED')); continue
    open(path,'w').write(src.replace(old,new,1))
    try:
        r=subprocess.run(TESTS,capture_output=True,text=True,timeout=900)
        verdict='caught' if r.returncode!=0 else 'MISSED'
        fails=[l for l in r.stdout.splitlines() if 'FAILED' in l or l.startswith('test ') and 'FAILED' in l][:3]
    except subprocess.TimeoutExpired:
        verdict='caught (timeout)'; fails=[]
    finally:
        open(path,'w').write(src)
    results.append((name,verdict,' | '.join(fails)))
    print(name, verdict, fails, flush=True)
open(os.environ.get('MUTANTS_OUT', '/dev/null'),'w').write('\n'.join('\t'.join(map(str,r)) for r in results))
