package FIORTest;

use strict;
use warnings;

use Future;
use Future::IO;
use IO::Socket::INET;
use JSON::PP              ();
use POSIX                 ();
use Time::HiRes           ();
use Test2::API            qw(context);
use Test2::Tools::Basic   qw(ok);
use Test2::Tools::Class   qw(isa_ok);
use Test2::Tools::Compare qw(is);

=head1 NAME

FIORTest - where the test servers are, for the Future::IO::Redis tests

=head1 SYNOPSIS

    use lib 't/lib';
    use FIORTest;

    my $srv   = FIORTest::server('plain');     # { host => ..., port => ... }
    my $redis = Future::IO::Redis->new(%$srv);

    my $tls = FIORTest::server('tls');
    my $secure = Future::IO::Redis->new(
        host => $tls->{host}, port => $tls->{port},
        tls  => { ca_file => $tls->{ca_file} },
    );

    my $key  = FIORTest::unique_key('counter');   # fior:test:<pid>:counter:1
    my $list = FIORTest::cli('CLIENT', 'LIST');   # out-of-band check

=head1 DESCRIPTION

C<script/test> starts throw-away servers and describes them in C<FIOR_TEST_*>
environment variables (see F<script/lib.sh>). This module turns those into
connection options.

When the variables for a kind of server are missing, the test file is
skipped (C<skip_all>) - unless C<FIOR_TEST_STRICT> is set, as C<script/test>
does, in which case a missing server is a hard failure (the run bails out):
there it means the test set-up is broken, not that the machine lacks a
server. For the plain server only, without the variables, a server that
answers PING on 127.0.0.1:6379 is used (so C<prove -b t/...> works against
a developer's own local Redis).

=head1 FUNCTIONS

=head2 server

    my $opt = FIORTest::server($kind);

C<$kind> is one of:

=over

=item plain - C<< { host, port } >> (127.0.0.1:6379 under C<script/test>)

=item auth - C<< { host, port, password, acl_user, acl_password } >>:
C<password> is the default user's (C<requirepass>), C<acl_user> has full
access with C<acl_password>.

=item tls - C<< { host => 'localhost', port, ca_file, wrong_ca_file,
cert_file, key_file } >>: a TLS-only port; the server certificate is signed by
C<ca_file> and names localhost, 127.0.0.1 and ::1; C<wrong_ca_file> is an
unrelated CA; C<cert_file>/C<key_file> are a client certificate signed by
C<ca_file> (client certificates are optional on this server).

=item unix - C<< { path } >>: the plain server's unix socket.

=back

A fresh hashref each call: change it freely.

=cut

my %ENV_OF = (
    plain => [ host => 'FIOR_TEST_HOST', port => 'FIOR_TEST_PORT' ],
    auth  => [
        host         => 'FIOR_TEST_HOST',
        port         => 'FIOR_TEST_AUTH_PORT',
        password     => 'FIOR_TEST_AUTH_PASSWORD',
        acl_user     => 'FIOR_TEST_ACL_USER',
        acl_password => 'FIOR_TEST_ACL_PASSWORD',
    ],
    tls => [
        port          => 'FIOR_TEST_TLS_PORT',
        ca_file       => 'FIOR_TEST_TLS_CA',
        wrong_ca_file => 'FIOR_TEST_TLS_WRONG_CA',
        cert_file     => 'FIOR_TEST_TLS_CERT',
        key_file      => 'FIOR_TEST_TLS_KEY',
    ],
    unix => [ path => 'FIOR_TEST_SOCKET' ],
);

sub server {
    my ($kind) = @_;
    my $map = $ENV_OF{ $kind // '' }
        or die "FIORTest::server: unknown kind '"
        . ( $kind // 'undef' )
        . "' (plain|auth|tls|unix)\n";

    my ( %opt, @missing );
    my @pairs = @$map;
    while ( my ( $name, $var ) = splice @pairs, 0, 2 ) {
        if ( defined $ENV{$var} && length $ENV{$var} ) {
            $opt{$name} = $ENV{$var};
        }
        else {
            push @missing, $var;
        }
    }
    $opt{host} = 'localhost' if $kind eq 'tls';    # the certificate's name
    return \%opt unless @missing;

    if ( $kind eq 'plain' && !$ENV{FIOR_TEST_STRICT} && _pings( '127.0.0.1', 6379 ) ) {
        return { host => '127.0.0.1', port => 6379 };
    }

    _give_up("no $kind Redis server: @missing not set (script/test starts one)");
}

# Bails out the whole run under FIOR_TEST_STRICT, else skips this file.
# Either way it does not return.
sub _give_up {
    my ($why) = @_;
    my $ctx = context( level => 1 );
    if ( $ENV{FIOR_TEST_STRICT} ) {
        $ctx->bail("FIOR_TEST_STRICT is set, yet $why");
    }
    else {
        $ctx->plan( 0, SKIP => $why );
    }
    $ctx->release;    # not reached: bail and skip_all both end the test
    exit 0;
}

sub _pings {
    my ( $host, $port ) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => $host,
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    ) or return 0;
    my $reply = '';
    my $ok    = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 2;
        $sock->print("PING\r\n");
        $sock->sysread( $reply, 64 );
        alarm 0;
        1;
    };
    alarm 0;
    return $ok && $reply =~ /^\+PONG\r\n/ ? 1 : 0;
}

=head2 cli

    my $out   = FIORTest::cli('CLIENT', 'LIST');   # whole output, chomped
    my @lines = FIORTest::cli('KEYS', 'fior:*');   # one line each, chomped

Runs C<redis-cli -h HOST -p PORT ARGS...> against the plain server (the
words are passed as arguments, no shell) for out-of-band checks, and returns
what it printed. Dies when redis-cli cannot be run or exits non-zero.
redis-cli prints error replies (C<ERR ...>) rather than failing on them.

=cut

sub cli {
    my (@args) = @_;
    die "FIORTest::cli: no command given\n" unless @args;
    my $srv = server('plain');
    my @cmd = ( 'redis-cli', '-h', $srv->{host}, '-p', $srv->{port}, @args );

    my $pid = open( my $out, '-|' ) // die "FIORTest::cli: cannot fork: $!\n";
    if ( !$pid ) {

        # No stdin: with none, redis-cli would read commands from it.
        open STDIN, '<', '/dev/null';
        exec {'redis-cli'} @cmd or do {
            print STDERR "FIORTest::cli: cannot run redis-cli: $!\n";
            require POSIX;
            POSIX::_exit(127);
        };
    }
    my $text = do { local $/; <$out> }
        // '';
    close $out;
    die "FIORTest::cli: '@cmd' failed (exit " . ( $? >> 8 ) . "): $text\n" if $?;

    if (wantarray) {
        my @lines = split /\r?\n/, $text;
        return @lines;
    }
    $text =~ s/\r?\n\z//;
    return $text;
}

=head2 unique_key

    my $key = FIORTest::unique_key($name);   # "fior:test:$$:$name:1", ":2", ...

A key no other test process (tests run in parallel against the same server)
and no earlier call in this one uses. Delete what you create: the servers
are shared by the whole run and nothing flushes them.

=cut

my $counter = 0;

sub unique_key {
    my ($name) = @_;
    $name //= 'key';
    return "fior:test:$$:$name:" . ++$counter;
}

=head2 failure_of

    my $error = FIORTest::failure_of($future);   # undef when it succeeded

Waits for the future (running the loop) and gives its failure.

=cut

sub failure_of {
    my ($f) = @_;
    $f->await;
    return $f->is_failed ? $f->failure : undef;
}

=head2 redis_error_ok

    my $error = FIORTest::redis_error_ok( $redis, $future, 'WRONGTYPE', $name );

Three assertions: the future fails with a
L<Future::IO::Redis::Error::Redis> of that type, and C<$redis> still answers
PING afterwards.

=cut

sub redis_error_ok {
    my ( $redis, $f, $type, $name ) = @_;
    my $ctx = context();
    my $err = failure_of($f);
    isa_ok( $err, ['Future::IO::Redis::Error::Redis'], "$name: an Error::Redis" );
    is( ref $err ? $err->type : undef, $type,  "$name: type $type" );
    is( $redis->ping->get,             'PONG', "$name: the client still answers" );
    $ctx->release;
    return $err;
}

=head2 hex_of

    my $hex = FIORTest::hex_of(@values);   # [ '00ff', undef, ... ]

The values as hex (undef and references as they are): failures of byte
comparisons become readable.

=cut

sub hex_of {
    return [ map { defined && !ref ? unpack( 'H*', $_ ) : $_ } @_ ];
}

=head2 bytes_are

    FIORTest::bytes_are( $reply, $want, $name );

Two assertions: C<$reply> is a byte string (no UTF-8 flag) with exactly the
bytes of C<$want> (compared as hex).

=cut

sub bytes_are {
    my ( $got, $want, $name ) = @_;
    my $ctx = context();
    ok( defined $got && !ref $got && !utf8::is_utf8($got), "$name: a byte string" );
    is( hex_of($got)->[0], unpack( 'H*', $want ), "$name: exact bytes" );
    $ctx->release;
    return;
}

=head2 ready_within

    ok( FIORTest::ready_within( $f, 5 ), 'done in time' );

Runs the loop until C<$f> is ready or C<$secs> (default 10) have passed;
true when it is ready. C<$f> itself is not cancelled.

=cut

sub ready_within {
    my ( $f, $secs ) = @_;
    Future->wait_any( $f->without_cancel, Future::IO->sleep( $secs // 10 ) )->await;
    return $f->is_ready;
}

=head2 eventually

    ok( FIORTest::eventually( sub { $pool->stats->{idle} == 2 }, 5 ) );

Runs the loop until the condition holds or C<$secs> (default 5) have
passed; true when it held.

=cut

sub eventually {
    my ( $cond, $secs ) = @_;
    my $until = Time::HiRes::time() + ( $secs // 5 );
    while ( Time::HiRes::time() < $until ) {
        return 1 if $cond->();
        Future::IO->sleep(0.02)->get;
    }
    return $cond->() ? 1 : 0;
}

=head2 next_tuple

    is( FIORTest::next_tuple($sub), [ 'message', $channel, undef, 'hi' ] );

A subscription's next message as C<[type, channel, pattern, data]>; undef
once it is over, C<'FAILED: ...'> when C<next> fails, C<'TIMEOUT'> when
nothing came within 10 s (the waiting C<next> is cancelled, so it takes
nothing).

=cut

sub next_tuple {
    my ($sub) = @_;
    my $f = $sub->next;
    unless ( ready_within( $f, 10 ) ) { $f->cancel; return 'TIMEOUT' }
    return 'FAILED: ' . $f->failure if $f->is_failed;
    my $m = $f->get;
    return undef unless defined $m;
    return [ @{$m}{qw(type channel pattern data)} ];
}

=head2 numsub

    is( FIORTest::numsub( $redis, $a, $b ), [ 1, 0 ] );

The server's subscriber count of each channel (PUBSUB NUMSUB), asked
through C<$redis>.

=cut

sub numsub {
    my ( $redis, @channels ) = @_;
    my %n = @{ $redis->pubsub_numsub(@channels)->get };
    return [ @n{@channels} ];
}

=head2 clients_named

    my $by_id = FIORTest::clients_named( $redis, $name );   # { id => CLIENT LIST line }

The server's connections with that client name, asked through C<$redis>.

=cut

sub clients_named {
    my ( $redis, $name ) = @_;
    my %by_id;
    for my $line ( split /\r?\n/, $redis->command( 'CLIENT', 'LIST' )->get ) {
        next unless $line =~ /(?:^|\s)name=\Q$name\E(?:\s|$)/;
        $by_id{$1} = $line if $line =~ /(?:^|\s)id=(\d+)/;
    }
    return \%by_id;
}

=head2 in_child, child_output

    my ( $pid, $fh ) = FIORTest::in_child( sub { ...; return "SUCCESS" } );
    like( FIORTest::child_output( $pid, $fh ), qr/SUCCESS/ );

Runs the code in a forked child, which prints what it returns (or
C<ERROR: ...>) to a pipe and leaves with C<_exit>; C<child_output> reads
that and reaps the child.

=cut

sub in_child {
    my ($code) = @_;
    pipe( my $from_child, my $to_child ) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        close $from_child;
        my $out = eval { $code->() } // "ERROR: $@";
        print {$to_child} $out;
        close $to_child;
        POSIX::_exit(0);
    }
    close $to_child;
    return ( $pid, $from_child );
}

sub child_output {
    my ( $pid, $fh ) = @_;
    my $out = do { local $/; <$fh> };
    waitpid( $pid, 0 );
    return $out;
}

=head2 in_worker, worker_report

    my ( $pid, $fh ) = FIORTest::in_worker( sub { ...; return { replies => 1000 } } );
    my $report = FIORTest::worker_report( $pid, $fh );    # + exit_status

Like C<in_child>, but the child reports a structure (as JSON, or
C<< { error => ... } >>) and leaves with C<exit 0>, not C<_exit>: END
blocks and DESTROY run in it, as in a real worker process. It dies after
C<$alarm> seconds (default 30) rather than hang. C<worker_report> gives the
report with the child's C<exit_status> added.

=cut

sub in_worker {
    my ( $code, $alarm ) = @_;
    pipe( my $from_child, my $to_child ) or die "pipe: $!";
    $_->flush for *STDOUT{IO}, *STDERR{IO};    # nothing buffered to print twice
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        alarm( $alarm // 30 );                 # a hung child dies (and fails the test)
        close $from_child;
        my $out = eval { JSON::PP::encode_json( $code->() ) }
            // JSON::PP::encode_json( { error => "$@" } );
        print {$to_child} $out;
        close $to_child;
        exit 0;
    }
    close $to_child;
    return ( $pid, $from_child );
}

sub worker_report {
    my ( $pid, $fh ) = @_;
    my $out = do { local $/; <$fh> };
    waitpid( $pid, 0 );
    my $status = $?;
    my $report = eval { JSON::PP::decode_json($out) } // { unreadable => $out };
    $report->{exit_status} = $status;
    return $report;
}

1;
