package FIORServer;

# A throw-away redis-server that a test starts, stops and restarts itself
# (for restarts and outages), on a free loopback port.

use strict;
use warnings;

use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX       qw(WNOHANG);
use Time::HiRes qw(sleep time);

sub free_port {
    my $sock = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1 )
        or die "cannot find a free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub new {
    my ( $class, %opt ) = @_;

    # Without redis-server the file skips (fails under FIOR_TEST_STRICT).
    unless ( grep { -x "$_/redis-server" } File::Spec->path ) {
        require FIORTest;
        FIORTest::_give_up('redis-server is not installed (script/test installs it)');
    }
    my $self = bless {
        port  => $opt{port} // free_port(),
        dir   => tempdir( CLEANUP => 1 ),
        args  => $opt{args} // [],
        owner => $$
    }, $class;
    $self->start;
    return $self;
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        open STDOUT, '>',  "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        {
            exec 'redis-server', '--port', $self->{port}, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', $self->{dir},
                '--enable-debug-command', 'local', @{ $self->{args} }
        };
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $until = time + 10;
    while ( time < $until ) {
        return $self if _pings( $self->{port} );
        die "redis-server exited: " . _slurp("$self->{dir}/redis.log")
            if waitpid( $pid, WNOHANG ) == $pid;
        sleep 0.02;
    }
    die "redis-server on $self->{port} did not answer";
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    my $until = time + 5;
    while ( waitpid( $pid, WNOHANG ) != $pid ) {
        if ( time > $until ) { kill 'KILL', $pid; waitpid( $pid, 0 ); last }
        sleep 0.01;
    }
}

# Only the process that started the server stops it (not a forked child).
sub DESTROY { my ($self) = @_; $self->stop if $self->{pid} && $self->{owner} == $$ }

sub _pings {
    my ($port) = @_;
    my $s = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1 )
        or return 0;
    $s->syswrite("PING\r\n");
    my $got = '';
    my $rin = '';
    vec( $rin, fileno $s, 1 ) = 1;
    select( my $rout = $rin, undef, undef, 1 ) and sysread( $s, $got, 64 );
    return $got =~ /PONG/;
}

sub _slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

1;

__END__

=head1 NAME

FIORServer - a redis-server a test owns (start, stop, restart)

=head1 SYNOPSIS

    my $server = FIORServer->new;            # free loopback port
    my $redis  = Future::IO::Redis->new(host => '127.0.0.1', port => $server->port);
    $server->stop;  $server->start;          # an outage and a restart

=cut
