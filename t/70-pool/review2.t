# Regressions from a second review of Future::IO::Redis::Pool. A health
# check whose connection stopped answering (a proxy black-holes it) does
# not hold up a caller: an idle connection goes to it meanwhile, the check
# gives up after about a second and a new connection is opened, and an
# acquire timeout says what the connections are doing. A plain with()
# callback that returns several futures keeps the connection until all of
# them are over and yields their results. When opening a connection fails,
# the caller to hear it is not the one a running check is promised to.
# AUTH again with the pool's own non-ASCII password is not another login.
# warm() waits for the connections already being opened.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 90;    # a hang fails the file instead

my $loop    = IO::Async::Loop->new;
my $srv     = FIORTest::server('plain');
my $private = FIORServer->new;             # CONFIG SET maxclients: never on the shared server
my %priv    = ( host => '127.0.0.1', port => $private->port );
my $base    = FIORTest::unique_key('poolreview2');

sub pause { $loop->delay_future( after => $_[0] )->get }

# A TCP proxy to the private server in a child process: on SIGUSR1 it
# black-holes every connection open at that moment (no reply, no close),
# as a dropped NAT entry would; later connections are relayed.
my $listen = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 50 )
    or die "listen: $!";
my $proxy_port = $listen->sockport;
my $parent     = $$;
my $proxy      = fork // die "fork: $!";
if ( !$proxy ) {
    my $sel = IO::Select->new($listen);
    my ( %peer, @frozen, $freeze );
    local $SIG{USR1} = sub { $freeze = 1 };
    while ( getppid == $parent ) {    # (not left behind by a test killed by alarm)
        if ($freeze) {                # (kept open: a socket freed would be closed)
            push @frozen, values %peer;
            $sel->remove(@frozen);
            %peer   = ();
            $freeze = 0;
        }
        for my $h ( $sel->can_read(0.05) ) {
            if ( $h == $listen ) {
                my $c = $listen->accept or next;
                my $up
                    = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $private->port )
                    or next;
                @peer{ $c, $up } = ( $up, $c );
                $sel->add( $c, $up );
                next;
            }
            my $o = $peer{$h} or next;
            my $n = sysread( $h, my $buf, 65536 );
            if ( !$n ) { $sel->remove( $h, $o ); delete @peer{ $h, $o }; next }
            syswrite( $o, $buf );
        }
    }
    _exit(0);
}
close $listen;

END {
    local $?;
    if ($proxy) { kill "TERM", $proxy; waitpid $proxy, 0 }
}

sub freeze_proxy { kill 'USR1', $proxy; pause(0.2) }

my $mon = Future::IO::Redis->new(%priv);
$mon->connect->get;

subtest 'a stalled health check does not keep an idle connection from a caller' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        host            => '127.0.0.1',
        port            => $proxy_port,
        min             => 0,
        max             => 3,
        acquire_timeout => 3,
    );
    my $A = $pool->acquire->get;
    my $B = $pool->acquire->get;
    $pool->release($A);
    pause(1.1);                 # A is due for a PING
    freeze_proxy();             # ... which gets no answer
    my $w1 = $pool->acquire;    # starts A's check
    $w1->cancel;                # that caller gives up
    $pool->release($B);         # a fresh idle connection
    my $t0 = $loop->time;
    my $w2 = $pool->acquire;
    ok( FIORTest::eventually( sub { $w2->is_ready }, 4 ), 'the next caller is answered' );
    ok( $w2->is_done && $w2->get == $B,                   "with the idle connection" )
        or diag join " ", $w2->state, $w2->is_failed ? $w2->failure : (), %{ $pool->stats };
    ok( $loop->time - $t0 < 0.5, 'at once' );
    $pool->release( $w2->get ) if $w2->is_done;
    ok( FIORTest::eventually( sub { !$pool->{_checking} }, 3 ), 'the stalled check ends' );
    $pool->shutdown;
};

subtest 'a health check that gets no answer gives up after about a second' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        host            => '127.0.0.1',
        port            => $proxy_port,
        min             => 1,
        acquire_timeout => 4,
    );
    $pool->warm->get;
    my $A = $pool->acquire->get;
    $pool->release($A);
    pause(1.1);
    freeze_proxy();
    my $t0 = $loop->time;
    my $f  = $pool->acquire;
    $loop->await($f);
    ok( $f->is_done,             'served' ) or note $f->failure;
    ok( $loop->time - $t0 < 2.5, 'within the check deadline, not acquire_timeout' );

    if ( $f->is_done ) {
        isnt( $f->get, $A, 'by a new connection' );
        is( $f->get->ping->get, 'PONG', 'that answers' );
        $pool->release( $f->get );
    }
    is( $pool->stats->{destroyed}, 1, 'the silent one is closed' );
    $pool->shutdown;
};

subtest 'the acquire timeout says what the connections are doing' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 0, max => 1, acquire_timeout => 0.2 );
    my $c    = $pool->acquire->get;
    my $f    = $pool->acquire;
    $loop->await($f);
    ok( $f->is_failed, 'times out' );
    like( FIORTest::failure_of($f)->message, qr/1 of 1 connections: 1 in use, 0 idle/, 'counts' );
    $pool->release($c);
    $pool->shutdown;
};

subtest 'with: a plain sub returning several futures keeps the connection until they are over' =>
    sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 0, max => 1 );
    my $key  = "$base:with";
    my @got  = $pool->with( sub { my ($r) = @_; ( $r->set( $key, 'v' ), 'plain', $r->get($key) ) } )
        ->get;
    is( \@got,                     [ 'OK', 'plain', 'v' ], 'their results, in order' );
    is( $pool->stats->{destroyed}, 0,                      'given back clean' );
    my $f = $pool->with( sub { my ($r) = @_; ( $r->get($key), $r->command('NO-SUCH-COMMAND') ) } );
    $loop->await($f);
    ok( $f->is_failed, 'fails as the future that failed' );
    is( $pool->stats->{destroyed}, 0, 'given back clean again' );
    $pool->with( sub { $_[0]->del($key) } )->get;
    $pool->shutdown;
    };

subtest 'a failed open fails the caller after the one a running check is promised to' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        host            => '127.0.0.1',
        port            => $proxy_port,
        min             => 0,
        max             => 2,
        acquire_timeout => 5,
    );
    my $A = $pool->acquire->get;
    $pool->release($A);
    pause(1.1);
    freeze_proxy();                                                   # A's check stalls
    my $clients = () = $mon->command( 'CLIENT', 'LIST' )->get =~ /\n/g;
    my ( undef, $maxclients ) = @{ $mon->command( 'CONFIG', 'GET', 'maxclients' )->get };
    $mon->command( 'CONFIG', 'SET', 'maxclients', $clients )->get;    # no new connections
    my $w1 = $pool->acquire;                                          # promised A's check
    my $w2 = $pool->acquire;                                          # opens one, which fails
    ok( FIORTest::eventually( sub { $w1->is_ready || $w2->is_ready }, 3 ), 'one hears' );
    ok( $w2->is_failed, 'the second in line hears the refusal' );
    ok( !$w1->is_ready, 'the first still waits for the check' );
    $mon->command( 'CONFIG', 'SET', 'maxclients', $maxclients )->get;
    $loop->await($w1);
    ok( $w1->is_done, 'and is served once the check gives up' );
    $pool->release( $w1->get ) if $w1->is_done;
    $pool->shutdown;
};

subtest 'AUTH again with the non-ASCII password of the pool is no other login' => sub {
    my $pw = "p\x{e4}ssw\x{f6}rd-\x{263a}";
    utf8::encode( my $bytes = $pw );
    my $auth  = FIORServer->new;    # (it must answer PING when it starts)
    my $admin = Future::IO::Redis->new( host => '127.0.0.1', port => $auth->port );
    $admin->connect->get;
    $admin->command( 'CONFIG', 'SET', 'requirepass', $bytes )->get;
    for my $given ( [ chars => $pw ], [ bytes => $bytes ] ) {
        my ( $how, $password ) = @$given;
        my $pool = Future::IO::Redis::Pool->new(
            host     => '127.0.0.1',
            port     => $auth->port,
            password => $password,
            min      => 0,
            max      => 1,
        );
        my $c  = $pool->acquire->get;
        my $id = $c->command( 'CLIENT', 'ID' )->get;
        $c->command( 'AUTH', $pw )->get;
        $pool->release($c);
        is( $pool->stats->{destroyed}, 0, "$how: not destroyed" );
        my $again = $pool->acquire->get;
        is( $again->command( 'CLIENT', 'ID' )->get, $id, "$how: the same connection comes back" );
        $pool->release($again);
        $pool->shutdown;
    }
};

subtest 'warm waits for the connections already being opened' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 2, max => 3 );
    my $f    = $pool->acquire;                                              # opens min
    my $w    = $pool->warm;
    $loop->await($w);
    ok( $w->is_done, 'warm is done' );
    my $s = $pool->stats;
    is( $s->{idle} + $s->{active}, 2, 'once both are up' );
    $loop->await($f);
    $pool->release( $f->get );
    $pool->shutdown;
};

done_testing;
